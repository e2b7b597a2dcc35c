"""Readings in: parse and check messages, write a batch in one transaction, dead-letter the rest.

Both ingest paths (MQTT and HTTP) turn each message into a :class:`Reading` or a
:class:`Rejected` with a reason, then call :func:`write_batch`: the readings go through ``COPY``
(binary) into a session temp table and on with ``INSERT ... ON CONFLICT (sensor_id, ts) DO
NOTHING``, so a redelivered message never duplicates a row; the rejects go to
``sitewatch.dead_letter`` with the reason and the raw payload; the rule engine evaluates the new
readings; all of it commits together.  Month partitions are created before the batch, in a short
transaction of their own.
"""

from __future__ import annotations

import json
import logging
import math
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from sensors.kinds import canonical_unit
from sensors.registry import Registry
from sensors.settings import SensorSettings

_fast_loads: Callable[[bytes], object] | None
try:  # optional, 3-4x faster; outcomes are the same (see _parse_json)
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    _fast_loads = None

logger = logging.getLogger(__name__)

REASONS = {
    "too_large": "the payload is larger than the configured limit",
    "bad_topic": "the topic is not {prefix}/{project_code}/{sensor_code}",
    "not_json": "the payload is not JSON (UTF-8)",
    "not_object": "the payload is not a JSON object",
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


@dataclass(slots=True)
class Reading:
    sensor_id: int
    dt: datetime
    t: float            # epoch seconds
    value: float
    seq: int | None


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

    def mqtt(self, topic: str, payload: bytes) -> Reading | Rejected:
        if len(payload) > self.settings.ingest_max_payload_bytes:
            return Rejected("too_large", f"{len(payload)} bytes", payload[:1024], topic)
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != self.settings.mqtt_topic_prefix or not all(parts):
            return Rejected("bad_topic", topic, payload, topic)
        try:
            obj = _parse_json(payload)
        except ValueError as exc:  # also UnicodeDecodeError
            return Rejected("not_json", str(exc)[:200], payload, topic)
        return self._check(parts[1], parts[2], obj, payload, topic, "mqtt")

    def item(self, item: object, scope: str | None = None) -> Reading | Rejected:
        """One element of an HTTP batch: {project_code, sensor_code, ts, value, unit?, seq?}."""
        raw = json.dumps(item, ensure_ascii=False, allow_nan=True, default=str).encode()
        if not isinstance(item, dict):
            return Rejected("not_object", type(item).__name__, raw, None, "http")
        project, sensor = item.get("project_code"), item.get("sensor_code")
        if not isinstance(project, str) or not isinstance(sensor, str) or not project or not sensor:
            return Rejected("missing_field", "project_code and sensor_code are required strings",
                            raw, None, "http")
        if scope is not None and project != scope:
            return Rejected("out_of_scope", f"token scope {scope}", raw, None, "http", project)
        return self._check(project, sensor, item, raw, None, "http")

    def _check(self, project: str, sensor: str, obj: object, raw: bytes, topic: str | None,
               source: str) -> Reading | Rejected:
        def reject(reason: str, detail: str) -> Rejected:
            return Rejected(reason, detail, raw, topic, source, project)

        if not isinstance(obj, dict):
            return reject("not_object", f"got {type(obj).__name__}")
        missing = [k for k in ("ts", "value") if k not in obj]
        if missing:
            return reject("missing_field", ", ".join(missing))
        info = self.registry.lookup(project, sensor)
        if info is None:
            return reject("unknown_sensor", f"{project}/{sensor}")
        value = obj["value"]
        kind = type(value)
        if kind is int:
            try:
                value = float(value)
            except OverflowError:
                return reject("not_finite", "value overflows a double")
        elif kind is not float:   # bool is not a number here
            return reject("bad_value", f"value is {kind.__name__}")
        if not math.isfinite(value):
            return reject("not_finite", repr(value))
        unit = obj.get("unit")
        if unit is not None and (not isinstance(unit, str) or canonical_unit(unit) != info.unit):
            return reject("wrong_unit", f"got {unit!r}, sensor measures {info.unit}")
        stamp = obj["ts"]
        if not isinstance(stamp, str):
            return reject("bad_ts", f"ts is {type(stamp).__name__}")
        try:
            dt = datetime.fromisoformat(stamp)
        except ValueError:
            return reject("bad_ts", stamp[:64])
        if dt.tzinfo is None or dt.utcoffset() is None:
            return reject("bad_ts", f"{stamp[:64]} has no UTC offset")
        t = dt.timestamp()
        if t > self.now + self.settings.ingest_max_future_skew_s:
            return reject("future_ts", f"{stamp} is {t - self.now:.0f} s ahead")
        if t < self.now - self.settings.ingest_max_age_days * 86400:
            return reject("too_old", stamp)
        seq = obj.get("seq")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)
                                or not -_INT64 <= seq < _INT64):
            return reject("bad_seq", repr(seq)[:64])
        return Reading(info.id, dt, t, value, seq)


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


def months_of(readings: Iterable[Reading]) -> set[tuple[int, int]]:
    return {time.gmtime(r.t)[:2] for r in readings}  # type: ignore[misc]


# -- writing ------------------------------------------------------------------------------------

_TEMP_READY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_INSERT = """
INSERT INTO sitewatch.reading (sensor_id, ts, value, seq)
SELECT sensor_id, ts, value, seq FROM pg_temp.reading_in
ON CONFLICT (sensor_id, ts) DO NOTHING
"""


def _ensure_temp(conn: psycopg.Connection) -> None:
    if _TEMP_READY.get(conn) is None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS reading_in (sensor_id bigint, "
                     "ts timestamptz, value double precision, seq bigint) ON COMMIT DELETE ROWS")
        _TEMP_READY[conn] = True


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


def write_batch(conn: psycopg.Connection, readings: list[Reading], rejected: list[Rejected], *,
                partitions: Partitions, engine=None, registry: Registry | None = None
                ) -> BatchResult:
    """Store readings and dead letters and evaluate the rules, in one transaction."""
    if readings:
        partitions.ensure(conn, months_of(readings))
    result = BatchResult(rejected=len(rejected))
    try:
        _write(conn, readings, rejected, result, engine, registry)
    except BaseException as exc:
        _TEMP_READY.pop(conn, None)  # a rolled-back transaction takes a new temp table with it
        if isinstance(exc, psycopg.errors.CheckViolation):
            partitions.forget()      # "no partition for row": someone dropped one; look again
        raise
    return result


def _write(conn: psycopg.Connection, readings: list[Reading], rejected: list[Rejected],
           result: BatchResult, engine, registry: Registry | None) -> None:
    with conn.transaction():
        if readings:
            _ensure_temp(conn)
            with conn.cursor() as cur:
                with cur.copy("COPY pg_temp.reading_in (sensor_id, ts, value, seq) "
                              "FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int8", "timestamptz", "float8", "int8"])
                    for r in readings:
                        copy.write_row((r.sensor_id, r.dt, r.value, r.seq))
                cur.execute(_INSERT)
                result.accepted = cur.rowcount
            result.duplicate = len(readings) - result.accepted
        if rejected:
            _relabel_unknown(conn, rejected)
            with conn.cursor() as cur:
                with cur.copy("COPY sitewatch.dead_letter (source, topic, reason, detail, payload) "
                              "FROM STDIN") as copy:
                    for bad in rejected:
                        copy.write_row((bad.source, bad.topic, bad.reason, bad.detail, bad.payload))
        if engine is not None and readings and registry is not None:
            result.events = engine.evaluate(conn, registry, readings)
