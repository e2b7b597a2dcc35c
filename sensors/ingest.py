"""Readings in: parse and check messages, write a batch in one transaction, dead-letter the rest.

Payloads.  An MQTT message on ``{prefix}/{project_code}/{sensor_code}`` carries one reading of
that sensor, ``{"ts": ISO 8601 with offset, "value": number, "unit"?, "seq"?}``, or several: a
JSON array of such objects, or ``{"readings": [...]}`` (a gateway that buffers readings sends
them in one message).  Each element is checked like a single reading: the good ones are stored,
each bad one becomes a dead letter of its own (its reason, ``readings[i]: ...`` as the detail and
the element's JSON as the payload), so one bad element never costs the rest of its message.  A
message is one dead letter, with its raw payload, when it is not JSON, is too large, names an
unknown sensor, holds no readings (``no_readings``) or more than
``ingest_max_readings_per_message`` (default 1,000: ``too_many_readings``).  HTTP ingest
(``POST /api/v1/readings``) takes an array of ``{project_code, sensor_code, ts, value, unit?,
seq?}`` (or ``{"readings": [...]}``) and checks every element the same way.

Writing.  Both ingest paths turn their messages into :class:`Reading` and :class:`Rejected`
items and call :func:`write_batch`.  The readings are COPY'd (binary) straight into
``sitewatch.reading`` inside a savepoint; when one of them is stored already (a redelivery after a
crash, or the same reading twice) the savepoint is rolled back and the batch takes the careful
way: COPY into a session temp table, then ``INSERT ... ON CONFLICT (sensor_id, ts) DO NOTHING``,
so a redelivered message never duplicates a row.  Redeliveries come in runs, so after a conflict
the next few batches of that connection go the careful way directly.  The rejects go to
``sitewatch.dead_letter`` with the reason and the raw payload; the rule engine evaluates the new
readings; all of it commits together.  Month partitions are created before the batch, in a short
transaction of their own.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
import psycopg
from psycopg import sql

from sensors import stamps as _stamps
from sensors.columns import Columns, Reading, Run, copy_data
from sensors.kinds import canonical_unit
from sensors.registry import Registry, SensorInfo
from sensors.settings import SensorSettings

_fast_loads: Callable[[bytes], object] | None
try:  # 3-4x faster than the standard parser; outcomes are the same (see _parse_json)
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    _fast_loads = None

logger = logging.getLogger(__name__)

REASONS = {
    "too_large": "the payload is larger than the configured limit",
    "bad_topic": "the topic is not {prefix}/{project_code}/{sensor_code}",
    "not_json": "the payload is not JSON (UTF-8)",
    "not_object": "the payload (or an element of its readings) is not a JSON object",
    "bad_readings": "readings is not a JSON array",
    "no_readings": "the message holds an empty list of readings",
    "too_many_readings": "the message holds more readings than the configured limit",
    "missing_field": "a required field is missing",
    "unknown_project": "no project has this code",
    "unknown_sensor": "the project has no sensor with this code",
    "out_of_scope": "the gateway token is scoped to another project",
    "bad_value": "value is not a number",
    "not_finite": "value is NaN or infinite",
    "wrong_unit": "unit differs from the sensor's unit",
    "bad_ts": "ts is not an ISO 8601 timestamp with a UTC offset",
    "future_ts": "ts is further in the future than the allowed clock skew",
    "too_old": "ts is older than the allowed age",
    "bad_seq": "seq is not an integer",
    "db_error": "the database refused the reading",
}
_INT64 = 2 ** 63
_isfinite = math.isfinite
_fromisoformat = datetime.fromisoformat
_FLOAT, _NUMBERS, _STR = {float}, {float, int}, {str}
_NO_SEQ, _SEQS, _NO_UNIT = {type(None)}, {int, type(None)}, {None}
_unit = functools.lru_cache(maxsize=512)(canonical_unit)   # gateways repeat a few spellings


class _Element(msgspec.Struct, gc=False):
    """An element of a gateway's array, as msgspec decodes it: the field types are checked
    while parsing (an int value becomes a float, as float() would make it), and no dict is
    built per reading.  Whatever does not fit (a bool value, NaN, a unit that is a list, a
    missing field) fails the whole decode, and the message takes the general way."""
    ts: str
    value: float
    unit: str | None = None
    seq: int | None = None


_decode_batch = msgspec.json.Decoder(list[_Element]).decode


@dataclass(slots=True)
class Rejected:
    reason: str
    detail: str
    payload: bytes
    topic: str | None = None
    source: str = "mqtt"
    project_code: str | None = None


@dataclass
class BatchResult:
    accepted: int = 0       # new rows
    duplicate: int = 0      # valid, already stored
    rejected: int = 0       # dead letters
    events: list = field(default_factory=list)   # alarm events (sensors.engine.AlarmChange)


@dataclass
class Checker:
    """Turns raw messages into readings or rejects against one registry snapshot."""

    registry: Registry
    settings: SensorSettings
    now: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        s = self.settings
        self._latest = self.now + s.ingest_max_future_skew_s
        self._earliest = self.now - s.ingest_max_age_days * 86400
        self._max_bytes, self._prefix = s.ingest_max_payload_bytes, s.mqtt_topic_prefix

    def take(self, topic: str, payload: bytes) -> list[Reading | Rejected] | Run:
        """One MQTT message as the network thread checks it: a :class:`Run` when it holds
        several readings that pass every check but their stamps' (read with the rest of the
        batch by :meth:`settle`), else its readings and rejects in payload order (at least one
        item)."""
        if len(payload) > self._max_bytes:
            return [Rejected("too_large", f"{len(payload)} bytes", payload[:1024], topic)]
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != self._prefix or not parts[1] or not parts[2]:
            return [Rejected("bad_topic", topic, payload, topic)]
        project, sensor = parts[1], parts[2]
        if payload[:1] == b"[":
            try:   # a gateway's array, every element of the expected types: no dicts built
                return self._elements(project, sensor, _decode_batch(payload), payload, topic)
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass   # the general way below finds what is wrong, and where
        try:
            obj = _parse_json(payload)
        except ValueError as exc:  # also UnicodeDecodeError
            return [Rejected("not_json", str(exc)[:200], payload, topic)]
        if type(obj) is list:
            items = obj
        elif type(obj) is dict and "readings" in obj:
            items = obj["readings"]
            if type(items) is not list:
                return [Rejected("bad_readings", f"readings is {type(items).__name__}", payload,
                                 topic, "mqtt", project)]
        else:
            return [self._check(project, sensor, obj, payload, topic, "mqtt")]
        return self._elements(project, sensor, items, payload, topic)

    def message(self, topic: str, payload: bytes) -> list[Reading | Rejected]:
        """One MQTT message, checked to the end: its readings and rejects in payload order."""
        parsed = self.take(topic, payload)
        if type(parsed) is not Run:
            return parsed   # type: ignore[return-value]
        self.read_stamps([parsed])
        if parsed.us is None:
            return self._each(parsed)
        seqs = parsed.seqs or [None] * len(parsed)
        return [Reading(parsed.sensor_id, t, v, s)
                for t, v, s in zip((parsed.us / 1e6).tolist(), parsed.values, seqs)]

    def settle(self, parts: list[list[Reading | Rejected] | Run]
               ) -> tuple[Columns, list[Rejected]]:
        """What :meth:`take` made of a batch's messages, with the stamps of its runs read:
        the readings as columns (in message order) and the rejects."""
        runs = [part for part in parts if type(part) is Run]
        if runs:
            self.read_stamps(runs)   # type: ignore[arg-type]
        good: list[Run | Reading] = []
        rejected: list[Rejected] = []
        for part in parts:
            if type(part) is Run:
                if part.us is not None:
                    good.append(part)
                    continue
                part = self._each(part)
            for one in part:   # type: ignore[union-attr]
                (good if type(one) is Reading else rejected).append(one)  # type: ignore[arg-type]
        return Columns.gather(good), rejected

    def read_stamps(self, runs: list[Run]) -> None:
        """Read the stamps of the runs at once; a run gets its ``us`` when every stamp is of the
        usual shape and within the allowed age and skew (else :meth:`_each` decides)."""
        stamps: list[str] = []
        for run in runs:
            stamps += run.stamps
        us, ok = _stamps.epoch_us(stamps)
        ok &= (us >= math.ceil(self._earliest * 1e6)) & (us <= math.floor(self._latest * 1e6))
        start = 0
        for run in runs:
            end = start + len(run)
            if ok[start:end].all():
                run.us = us[start:end]
            start = end

    def item(self, item: object, scope: str | None = None) -> Reading | Rejected:
        """One element of an HTTP batch: {project_code, sensor_code, ts, value, unit?, seq?}."""
        raw = _element_json(item)
        if not isinstance(item, dict):
            return Rejected("not_object", type(item).__name__, raw, None, "http")
        project, sensor = item.get("project_code"), item.get("sensor_code")
        if not isinstance(project, str) or not isinstance(sensor, str) or not project or not sensor:
            return Rejected("missing_field", "project_code and sensor_code are required strings",
                            raw, None, "http")
        if scope is not None and project != scope:
            return Rejected("out_of_scope", f"token scope {scope}", raw, None, "http", project)
        return self._check(project, sensor, item, raw, None, "http")

    def _elements(self, project: str, sensor: str, items: list, payload: bytes,
                  topic: str) -> list[Reading | Rejected]:
        """The readings of a batched message, all of one sensor."""
        def whole(reason: str, detail: str) -> list[Reading | Rejected]:
            return [Rejected(reason, detail, payload, topic, "mqtt", project)]

        cap = self.settings.ingest_max_readings_per_message
        if not items:
            return whole("no_readings", "[]")
        if len(items) > cap:
            return whole("too_many_readings", f"{len(items)} readings, at most {cap} per message")
        info = self.registry.lookup(project, sensor)
        if info is None:
            return whole("unknown_sensor", f"{project}/{sensor}")
        run = self._all_good(info, items, payload, topic, project)
        if run is not None:
            return run
        kept = None if type(items[0]) is _Element else items
        return self._each(Run(info.id, [], [], None, info, kept, topic, payload, project))

    def _each(self, run: Run) -> list[Reading | Rejected]:
        """A batched message checked element by element: each bad one a reject of its own."""
        # Decoded as typed elements (items None): parsed again, as JSON this time.
        items: list = run.items if run.items is not None else _parse_json(run.payload)  # type: ignore[assignment]
        out: list[Reading | Rejected] = []
        append, reading, info = out.append, self._reading, run.info
        for item in items:
            append(reading(info, item))   # type: ignore[arg-type]
        for i, r in enumerate(out):
            if type(r) is tuple:
                reason, detail = r
                out[i] = Rejected(reason, f"readings[{i}]: {detail}", _element_json(items[i]),
                                  run.topic, "mqtt", run.project)
        return out

    def _all_good(self, info: SensorInfo, items: list, payload: bytes, topic: str,
                  project: str) -> Run | None:
        """The elements as a :class:`Run` when every one passes the checks that need no clock
        (the usual case), checked field by field across the elements, which costs less than
        element by element; None when any element may fail (:meth:`_each` then finds which,
        and why)."""
        if type(items[0]) is _Element:      # decoded with the types checked; none missing
            values = [e.value for e in items]
            stamps = [e.ts for e in items]
            units = {e.unit for e in items}
            seqs: list | None = [e.seq for e in items]
            kept = None                     # _each parses the payload again if it must
        else:
            try:
                values = [obj["value"] for obj in items]
                stamps = [obj["ts"] for obj in items]
                units = {obj.get("unit") for obj in items}
            except (KeyError, TypeError):   # a missing field, no object, a list as the unit
                return None
            seqs = [obj.get("seq") for obj in items]
            kept = items
        kinds = set(map(type, values))
        if kinds != _FLOAT:
            if not kinds <= _NUMBERS:
                return None
            try:
                values = [float(v) for v in values]
            except OverflowError:
                return None
        if not all(map(_isfinite, values)) or set(map(type, stamps)) != _STR:
            return None
        if units != _NO_UNIT:
            units.discard(None)
            if set(map(type, units)) != _STR or {_unit(u) for u in units} != {info.unit}:
                return None
        kinds = set(map(type, seqs))   # type: ignore[arg-type]
        if kinds == _NO_SEQ:
            seqs = None
        else:
            if not kinds <= _SEQS:
                return None
            numbers = [seq for seq in seqs if seq is not None]   # type: ignore[union-attr]
            if min(numbers) < -_INT64 or max(numbers) >= _INT64:
                return None
        return Run(info.id, stamps, values, seqs, info, kept, topic, payload, project)

    def _check(self, project: str, sensor: str, obj: object, raw: bytes, topic: str | None,
               source: str) -> Reading | Rejected:
        """A single reading: shape, then the sensor, then the fields."""
        if not isinstance(obj, dict):
            return Rejected("not_object", f"got {type(obj).__name__}", raw, topic, source, project)
        if "ts" not in obj or "value" not in obj:
            return Rejected("missing_field", ", ".join(k for k in ("ts", "value") if k not in obj),
                            raw, topic, source, project)
        info = self.registry.by_topic.get((project, sensor))
        if info is None:
            return Rejected("unknown_sensor", f"{project}/{sensor}", raw, topic, source, project)
        r = self._reading(info, obj)
        if type(r) is tuple:
            return Rejected(r[0], r[1], raw, topic, source, project)
        return r   # type: ignore[return-value]

    def _reading(self, info: SensorInfo, obj: object) -> Reading | tuple[str, str]:
        """The fields of one reading object: a :class:`Reading`, or (reason, detail)."""
        if not isinstance(obj, dict):
            return "not_object", f"got {type(obj).__name__}"
        try:
            value = obj["value"]
            stamp = obj["ts"]
        except KeyError:
            return "missing_field", ", ".join(k for k in ("ts", "value") if k not in obj)
        kind = type(value)
        if kind is int:
            try:
                value = float(value)
            except OverflowError:
                return "not_finite", "value overflows a double"
        elif kind is not float:   # bool is not a number here
            return "bad_value", f"value is {kind.__name__}"
        if not _isfinite(value):
            return "not_finite", repr(value)
        unit = obj.get("unit")
        if unit is not None and (type(unit) is not str or _unit(unit) != info.unit):
            return "wrong_unit", f"got {unit!r}, sensor measures {info.unit}"
        if type(stamp) is not str:
            return "bad_ts", f"ts is {type(stamp).__name__}"
        try:
            dt = _fromisoformat(stamp)
        except ValueError:
            return "bad_ts", stamp[:64]
        if dt.tzinfo is None:   # fromisoformat gives a fixed offset or none
            return "bad_ts", f"{stamp[:64]} has no UTC offset"
        t = dt.timestamp()
        if t > self._latest:
            return "future_ts", f"{stamp} is {t - self.now:.0f} s ahead"
        if t < self._earliest:
            return "too_old", stamp
        seq = obj.get("seq")
        if seq is not None and (type(seq) is not int or not -_INT64 <= seq < _INT64):
            return "bad_seq", repr(seq)[:64]
        return Reading(info.id, t, value, seq)


def _element_json(item: object) -> bytes:
    """An element as JSON (what a dead letter keeps of one bad reading in a batch)."""
    return json.dumps(item, ensure_ascii=False, allow_nan=True, default=str).encode()


def _parse_json(payload: bytes) -> object:
    """JSON; orjson first when installed, the standard parser for whatever orjson refuses
    (NaN and Infinity, integers beyond 64 bits, UTF-16), so the reason given never depends on
    which parser ran."""
    if _fast_loads is not None:
        try:
            return _fast_loads(payload)
        except ValueError:
            pass
    return json.loads(payload)


# -- partitions ---------------------------------------------------------------------------------

class Partitions:
    """Months (UTC) that have a readings partition; missing ones are created on demand."""

    def __init__(self) -> None:
        self.known: set[tuple[int, int]] = set()
        self.loaded = False

    def load(self, conn: psycopg.Connection) -> None:
        with conn.transaction():
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'sitewatch.reading'::regclass").fetchall()
        for (name,) in rows:
            try:
                year, month = name.removeprefix("reading_").split("_")
                self.known.add((int(year), int(month)))
            except ValueError:
                continue
        self.loaded = True

    def forget(self) -> None:
        self.known.clear()
        self.loaded = False

    def ensure(self, conn: psycopg.Connection, months: Iterable[tuple[int, int]]) -> None:
        if not self.loaded:
            self.load(conn)
        missing = sorted(set(months) - self.known)
        if not missing:
            return
        with conn.transaction():
            for year, month in missing:
                name = conn.execute("SELECT sitewatch.ensure_reading_partition(make_date(%s, %s, 1))",
                                    (year, month)).fetchone()[0]  # type: ignore[index]
                logger.info("readings partition %s ready", name)
        self.known.update(missing)

    def ensure_around(self, conn: psycopg.Connection, now: float | None = None) -> None:
        """Last month to three months ahead (run at start and daily)."""
        year, month = time.gmtime(now or time.time())[:2]
        months = []
        for k in range(-1, 4):
            m = year * 12 + month - 1 + k
            months.append((m // 12, m % 12 + 1))
        self.ensure(conn, months)


# -- writing ------------------------------------------------------------------------------------

CAREFUL_BATCHES = 20   # after a conflict, batches written the careful way before trying COPY again


@dataclass
class _Session:
    """What write_batch remembers per connection."""

    temp_ready: bool = False   # pg_temp.reading_in exists
    careful: int = 0           # batches left to write through the temp table


_SESSIONS: weakref.WeakKeyDictionary[psycopg.Connection, _Session] = weakref.WeakKeyDictionary()

_COPY = sql.SQL("COPY {} (sensor_id, ts, value, seq) FROM STDIN (FORMAT BINARY)")
_READING = sql.Identifier("sitewatch", "reading")
_READING_IN = sql.Identifier("pg_temp", "reading_in")
_INSERT = """
INSERT INTO sitewatch.reading (sensor_id, ts, value, seq)
SELECT sensor_id, ts, value, seq FROM pg_temp.reading_in
ON CONFLICT (sensor_id, ts) DO NOTHING
"""


def _session(conn: psycopg.Connection) -> _Session:
    session = _SESSIONS.get(conn)
    if session is None:
        session = _SESSIONS[conn] = _Session()
    return session


def _copy(cur: psycopg.Cursor, table: sql.Identifier, data: bytes) -> None:
    with cur.copy(_COPY.format(table)) as copy:
        copy.write(data)


def _store(conn: psycopg.Connection, readings: Columns) -> int:
    """Write the readings inside the open transaction; the number of new rows."""
    session = _session(conn)
    data = copy_data(readings)
    with conn.cursor() as cur:
        if session.careful:
            session.careful -= 1
        else:
            try:
                with conn.transaction():   # a savepoint: a conflict undoes only the COPY
                    _copy(cur, _READING, data)
                return len(readings)
            except psycopg.errors.UniqueViolation:
                session.careful = CAREFUL_BATCHES
                logger.debug("batch of %d holds stored readings; writing it with ON CONFLICT",
                             len(readings))
        if not session.temp_ready:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS reading_in (sensor_id bigint, "
                        "ts timestamptz, value double precision, seq bigint) ON COMMIT DELETE ROWS")
            session.temp_ready = True
        _copy(cur, _READING_IN, data)
        cur.execute(_INSERT)
        return cur.rowcount


def _relabel_unknown(conn: psycopg.Connection, rejected: list[Rejected]) -> None:
    """``unknown_sensor`` becomes ``unknown_project`` where the project itself is unknown."""
    codes = {r.project_code for r in rejected if r.reason == "unknown_sensor"}
    if not codes:
        return
    known = {row[0] for row in conn.execute(
        "SELECT code FROM sitewatch.project WHERE code = ANY(%s)", (list(codes),))}
    for r in rejected:
        if r.reason == "unknown_sensor" and r.project_code not in known:
            r.reason = "unknown_project"


def write_batch(conn: psycopg.Connection, readings: Columns | list[Reading],
                rejected: list[Rejected], *, partitions: Partitions, engine=None,
                registry: Registry | None = None) -> BatchResult:
    """Store readings and dead letters and evaluate the rules, in one transaction."""
    if type(readings) is not Columns:
        readings = Columns.gather(readings)     # type: ignore[arg-type]
    if len(readings):
        partitions.ensure(conn, readings.months())   # type: ignore[union-attr]
    result = BatchResult(rejected=len(rejected))
    try:
        _write(conn, readings, rejected, result, engine, registry)
    except BaseException as exc:
        # A rolled-back transaction takes a temp table it created with it.
        _SESSIONS.pop(conn, None)
        if isinstance(exc, psycopg.errors.CheckViolation):
            partitions.forget()      # "no partition for row": someone dropped one; look again
        raise
    return result


def _write(conn: psycopg.Connection, readings: Columns, rejected: list[Rejected],
           result: BatchResult, engine, registry: Registry | None) -> None:
    with conn.transaction():
        if len(readings):
            result.accepted = _store(conn, readings)
            result.duplicate = len(readings) - result.accepted
        if rejected:
            _relabel_unknown(conn, rejected)
            with conn.cursor() as cur:
                with cur.copy("COPY sitewatch.dead_letter (source, topic, reason, detail, payload) "
                              "FROM STDIN") as copy:
                    for bad in rejected:
                        copy.write_row((bad.source, bad.topic, bad.reason, bad.detail, bad.payload))
        if engine is not None and len(readings) and registry is not None:
            result.events = engine.evaluate(conn, registry, readings)
