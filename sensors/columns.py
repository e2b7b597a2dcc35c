"""A batch of readings column by column: what :func:`sensors.ingest.write_batch` stores and the
rule engine reads.

A gateway's message of a thousand readings is checked field by field across its elements
(:meth:`sensors.ingest.Checker.take` makes it a :class:`Run`); its stamps are read with the
other runs of the batch at once (:func:`sensors.stamps.epoch_us`); and the whole batch goes to
PostgreSQL as one binary COPY buffer built by NumPy (:func:`copy_data`), not row by row: no
``datetime`` nor tuple per reading is built on the way.  Single readings (:class:`Reading`, from
one-reading messages and HTTP ingest) join the same columns.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(slots=True)
class Reading:
    sensor_id: int
    t: float            # epoch seconds
    value: float
    seq: int | None


@dataclass(slots=True, eq=False)
class Run:
    """The readings of one batched message that passed every check but the clock's, in payload
    order: one sensor, a column per field.  ``us`` (epoch microseconds) is filled in when the
    stamps of the batch are read; ``items`` and ``message`` are kept for the element-by-element
    check when a stamp is not of the usual shape or is out of range."""
    sensor_id: int
    stamps: list[str]
    values: list[float]
    seqs: list[int | None] | None     # None: no element has a seq
    info: Any                         # sensors.registry.SensorInfo
    items: list[Any] | None           # None: decoded to typed elements, parse again if needed
    topic: str
    payload: bytes
    project: str
    us: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)


_EMPTY = np.zeros(0, np.int64)


class Columns:
    """Readings in arrival order: ``sensor_id``, ``us`` (int64 epoch microseconds), ``value``
    (float64), ``seq`` (int64) with ``has_seq`` (bool; None when every reading has one)."""

    __slots__ = ("sensor_id", "us", "value", "seq", "has_seq")

    def __init__(self, sensor_id: np.ndarray, us: np.ndarray, value: np.ndarray,
                 seq: np.ndarray | None, has_seq: np.ndarray | None) -> None:
        self.sensor_id, self.us, self.value = sensor_id, us, value
        self.seq, self.has_seq = seq, has_seq   # seq None: no reading has one

    def __len__(self) -> int:
        return len(self.us)

    @classmethod
    def gather(cls, parts: Iterable[Run | list[Reading] | Reading]) -> Columns:
        """The readings of runs (their ``us`` read) and of single readings, in the order given."""
        sids: list[int] = []
        values: list[float] = []
        seqs: list[int | None] = []
        us_parts: list[np.ndarray] = []
        single_t: list[float] = []
        with_seq = 0

        def flush() -> None:
            if single_t:
                us_parts.append(np.rint(np.array(single_t) * 1e6).astype(np.int64))
                single_t.clear()

        for part in parts:
            if type(part) is Run:
                flush()
                n = len(part)
                us_parts.append(part.us)   # type: ignore[arg-type]
                sids += [part.sensor_id] * n
                values += part.values
                if part.seqs is None:
                    seqs += [None] * n
                else:
                    seqs += part.seqs
                    with_seq += n - part.seqs.count(None)
                continue
            for r in (part,) if type(part) is Reading else part:   # type: ignore[union-attr]
                sids.append(r.sensor_id)
                single_t.append(r.t)
                values.append(r.value)
                seqs.append(r.seq)
                with_seq += r.seq is not None
        flush()
        n = len(values)
        us = np.concatenate(us_parts) if us_parts else _EMPTY
        seq = has_seq = None
        if with_seq == n and n:
            seq = np.array(seqs, np.int64)
        elif with_seq:
            has_seq = np.fromiter((s is not None for s in seqs), bool, n)
            seq = np.fromiter((0 if s is None else s for s in seqs), np.int64, n)
        return cls(np.array(sids, np.int64), us, np.array(values, np.float64), seq, has_seq)

    def months(self) -> set[tuple[int, int]]:
        """The UTC months from the earliest to the latest reading (those between included: a
        month without readings only gets its partition early)."""
        if not len(self):
            return set()
        first, last = (np.array([self.us.min(), self.us.max()]).astype("datetime64[us]")
                       .astype("datetime64[M]").astype(np.int64))
        return {(m // 12 + 1970, m % 12 + 1) for m in range(int(first), int(last) + 1)}


# -- binary COPY ----------------------------------------------------------------------------------

# PostgreSQL's binary COPY: a signature, flags and header extension; per row the field count and
# each field as length + big-endian value (length -1 for NULL); -1 as the field count ends it.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_PG_EPOCH_US = 946_684_800_000_000      # 2000-01-01, where timestamptz counts from
_ROW = np.dtype([("fields", ">i2"), ("l_sid", ">i4"), ("sid", ">i8"), ("l_ts", ">i4"),
                 ("ts", ">i8"), ("l_value", ">i4"), ("value", ">f8"), ("l_seq", ">i4"),
                 ("seq", ">i8")])
_ROW_NO_SEQ = np.dtype([(name, _ROW.fields[name][0]) for name in _ROW.names[:-1]])


def copy_data(cols: Columns) -> bytes:
    """The whole binary COPY stream of ``(sensor_id, ts, value, seq)`` for these readings."""
    full = cols.seq is not None
    rows = np.empty(len(cols), _ROW if full else _ROW_NO_SEQ)
    rows["fields"] = 4
    rows["l_sid"] = rows["l_ts"] = rows["l_value"] = 8
    rows["sid"] = cols.sensor_id
    rows["ts"] = cols.us - _PG_EPOCH_US
    rows["value"] = cols.value
    if not full:
        rows["l_seq"] = -1
        return _HEADER + rows.tobytes() + _TRAILER
    rows["seq"] = cols.seq
    if cols.has_seq is None:
        rows["l_seq"] = 8
        return _HEADER + rows.tobytes() + _TRAILER
    # Some readings have no seq: their rows end at the NULL's length, 8 bytes short.
    rows["l_seq"] = np.where(cols.has_seq, 8, -1)
    keep = np.ones((len(cols), _ROW.itemsize), bool)
    keep[~cols.has_seq, _ROW.itemsize - 8:] = False
    return _HEADER + rows.view(np.uint8).reshape(len(cols), -1)[keep].tobytes() + _TRAILER
