"""The rule engine's database side: per-sensor state, alarms, transitions, notifications.

:meth:`Engine.evaluate` runs inside the ingest transaction.  It locks the ``sensor_state`` rows
of the batch's sensors (``FOR UPDATE``, in id order, so the MQTT worker and HTTP ingest never
deadlock), feeds each sensor's new readings to its :class:`sensors.rules.Runtime` in time order
and writes what changed: alarms opened, escalated or closed, their transitions, outbox rows for
the webhooks, and the state row with a fresh ``version``.

Runtimes (rolling windows, recent history) are cached in memory between batches.  A cached
runtime is used only when its version equals the row's version; otherwise another writer has
evaluated the sensor since, and the window is rebuilt from the stored readings.  Readings older
than the sensor's latest evaluated reading are stored but not evaluated (late arrivals).
"""

from __future__ import annotations

import bisect
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import psycopg

from sensors import notify
from sensors.columns import Columns
from sensors.registry import Registry, SensorInfo
from sensors.rules import LEVELS, Event, Runtime

logger = logging.getLogger(__name__)

ACTOR = "rule-engine"


@dataclass(frozen=True)
class AlarmChange:
    alarm_id: int
    sensor_id: int
    event: str
    level: str
    rule: str
    ts: datetime
    value: float | None


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def _series(readings: Columns) -> dict[int, tuple[list[float], list[float]]]:
    """Per sensor: its readings' times (epoch seconds) and values in time order.  Of readings
    with equal times the first in the batch wins, as in the table (COPY keeps the batch's
    order; ``ON CONFLICT DO NOTHING`` keeps the first)."""
    order = np.lexsort((readings.us, readings.sensor_id))   # stable: batch order among equals
    sid, us = readings.sensor_id[order], readings.us[order]
    keep = np.ones(len(order), bool)
    keep[1:] = (sid[1:] != sid[:-1]) | (us[1:] != us[:-1])
    if not keep.all():
        order, sid, us = order[keep], sid[keep], us[keep]
    seconds = (us / 1e6).tolist()         # what datetime.timestamp() gives, to the last bit
    values = readings.value[order].tolist()
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]).tolist() + [len(sid)]
    return {int(sid[a]): (seconds[a:b], values[a:b]) for a, b in zip(starts, starts[1:])}


def _peak(peak: float | None, values: list[float]) -> float | None:
    """The larger in magnitude of ``peak`` and the values (the earlier one on a tie)."""
    if values:
        top = max(values, key=abs)
        if peak is None or abs(top) > abs(peak):
            return top
    return peak


class Engine:
    def __init__(self) -> None:
        # sensor id → (state version, compiled rules it was built with, runtime)
        self._cache: dict[int, tuple[int, tuple, Runtime]] = {}

    def evaluate(self, conn: psycopg.Connection, registry: Registry,
                 readings: Columns) -> list[AlarmChange]:
        by_sensor = _series(readings)
        states = conn.execute(
            "SELECT sensor_id, extract(epoch FROM last_ts)::float8, level, open_alarm_id, version "
            "FROM sitewatch.sensor_state WHERE sensor_id = ANY(%s) "
            "ORDER BY sensor_id FOR UPDATE", (list(by_sensor),)).fetchall()
        work: list[list] = []
        build: list[tuple[int, int, float | None, str]] = []
        for sid, last_t, level, open_alarm, version in states:
            info = registry.by_id.get(sid)
            if info is None:
                continue  # deleted while the batch was in flight
            ts, values = by_sensor[sid]
            if last_t is not None and ts[0] <= last_t:
                start = bisect.bisect_right(ts, last_t)
                if start == len(ts):
                    continue
                ts, values = ts[start:], values[start:]
            # Taken out while in use: put back only with the version this transaction writes.
            cached = self._cache.pop(sid, None)
            runtime = None
            if cached and cached[0] == version and cached[1] is info.rules:
                runtime = cached[2]
            else:
                build.append((len(work), sid, last_t, level))
            work.append([sid, info, ts, values, runtime, open_alarm])
        if build:
            self._build(conn, work, build)
        changes: list[AlarmChange] = []
        updates = []
        peaks = []
        for sid, info, ts, values, runtime, open_alarm in work:
            # The largest magnitude among the readings seen while an alarm is open, each reading
            # taken after the events it caused.
            peak = None
            start = 0
            for i, ev in runtime.feed_many(ts, values):
                if open_alarm is not None:
                    peak = _peak(peak, values[start:i])
                open_alarm = self._apply(conn, info, ev, values[i], open_alarm, changes)
                start = i
            if open_alarm is not None:
                peak = _peak(peak, values[start:])
            if open_alarm is not None and peak is not None:
                peaks.append((open_alarm, peak))
            # fromtimestamp rounds to the microsecond: the stamp as read, exactly.
            updates.append((sid, _dt(ts[-1]), values[-1], LEVELS[runtime.level], open_alarm,
                            runtime.rule_state, runtime))
        if peaks:
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE sitewatch.alarm SET peak_value = %s WHERE id = %s AND state <> 'closed'"
                    " AND (peak_value IS NULL OR abs(peak_value) < abs(%s))",
                    [(p, a, p) for a, p in peaks])
        if updates:
            self._store_states(conn, updates)
        if changes:
            self._announce(conn, changes)
        return changes

    # -- helpers ----------------------------------------------------------------------------------

    def _build(self, conn: psycopg.Connection, work: list, build: list) -> None:
        """Runtimes from the stored state (rule state, level) and recent readings."""
        stored: dict[int, dict | None] = dict(conn.execute(
            "SELECT sensor_id, rule_state FROM sitewatch.sensor_state WHERE sensor_id = ANY(%s)",
            ([sid for _, sid, _, _ in build],)).fetchall())
        rebuild = []
        for k, sid, last_t, level in build:
            runtime = Runtime(work[k][1].rules, rule_state=dict(stored.get(sid) or {}),
                              level=LEVELS.index(level))
            work[k][4] = runtime
            if last_t is not None and runtime.history_s > 0:
                rebuild.append((sid, last_t - runtime.history_s, last_t, runtime))
        if rebuild:
            self._rebuild(conn, rebuild)

    def _rebuild(self, conn: psycopg.Connection, items: list) -> None:
        ids = [sid for sid, *_ in items]
        rows = conn.execute(
            "SELECT r.sensor_id, extract(epoch FROM r.ts)::float8, r.value "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS w (sid, lo, hi) "
            "JOIN sitewatch.reading r ON r.sensor_id = w.sid AND r.ts >= w.lo AND r.ts <= w.hi "
            "ORDER BY r.sensor_id, r.ts",
            (ids, [_dt(lo - 86400) for _, lo, _, _ in items], [_dt(hi) for _, _, hi, _ in items]),
        ).fetchall()
        history: dict[int, list[tuple[float, float]]] = {}
        for sid, t, v in rows:
            history.setdefault(sid, []).append((t, v))
        for sid, _, _, runtime in items:
            runtime.load_history(history.get(sid, []))

    def _apply(self, conn: psycopg.Connection, info: SensorInfo, ev: Event, raw: float,
               open_alarm: int | None, changes: list[AlarmChange]) -> int | None:
        level = LEVELS[ev.level]
        ts = _dt(ev.ts)
        if ev.event == "opened" and open_alarm is None:
            open_alarm = conn.execute(
                "INSERT INTO sitewatch.alarm (sensor_id, rule, level, opened_at, opened_value, "
                "threshold, peak_value) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (info.id, ev.rule, level, ts, ev.value, ev.threshold, raw),
            ).fetchone()[0]  # type: ignore[index]
            event = "opened"
        elif ev.event in ("opened", "escalated") and open_alarm is not None:
            # A higher level re-opens an acknowledged alarm: it needs a new look.
            conn.execute(
                "UPDATE sitewatch.alarm SET level = %s, escalated_at = %s, state = 'open', "
                "acknowledged_at = NULL, acknowledged_by = NULL, ack_note = NULL "
                "WHERE id = %s", (level, ts, open_alarm))
            event = "escalated"
        elif ev.event == "closed" and open_alarm is not None:
            conn.execute(
                "UPDATE sitewatch.alarm SET state = 'closed', closed_at = %s, closed_value = %s "
                "WHERE id = %s", (ts, ev.value, open_alarm))
            event = "closed"
        else:
            return open_alarm
        conn.execute(
            "INSERT INTO sitewatch.alarm_transition (alarm_id, event, level, rule, reading_ts, "
            "value, actor) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (open_alarm, event, level, ev.rule or None, ts, ev.value, ACTOR))
        changes.append(AlarmChange(open_alarm, info.id, event, level, ev.rule, ts, ev.value))
        return None if event == "closed" else open_alarm

    def _store_states(self, conn: psycopg.Connection, updates: list) -> None:
        # One JSON document for all rows: far cheaper to build than six typed arrays.  A sensor
        # whose rules stayed calm (the usual case) changed only its latest reading: its level,
        # open alarm and rule state are left as stored, and not sent.
        doc = json.dumps([
            {"id": sid, "ts": ts.isoformat(), "value": value, "full": True, "level": level,
             "alarm": alarm, "rs": rs} if runtime.dirty else
            {"id": sid, "ts": ts.isoformat(), "value": value}
            for sid, ts, value, level, alarm, rs, runtime in updates], separators=(",", ":"))
        rows = conn.execute(
            "UPDATE sitewatch.sensor_state s SET last_ts = u.ts, last_value = u.value, "
            "level = CASE WHEN u.full THEN u.level ELSE s.level END, "
            "open_alarm_id = CASE WHEN u.full THEN u.alarm ELSE s.open_alarm_id END, "
            "rule_state = CASE WHEN u.full THEN u.rs ELSE s.rule_state END, "
            "version = nextval('sitewatch.sensor_state_version_seq'), updated_at = now() "
            "FROM jsonb_to_recordset(%s::jsonb) AS u (id bigint, ts timestamptz, "
            "value double precision, \"full\" boolean, level text, alarm bigint, rs jsonb) "
            "WHERE s.sensor_id = u.id RETURNING s.sensor_id, s.version", (doc,)).fetchall()
        versions: dict[int, int] = dict(rows)
        for sid, *_, runtime in updates:
            if sid in versions:
                runtime.dirty = False
                self._cache[sid] = (versions[sid], runtime.rules, runtime)

    def _announce(self, conn: psycopg.Connection, changes: list[AlarmChange]) -> None:
        routed = 0
        for ch in changes:
            routed += notify.route(conn, ch.alarm_id, ch.event)
            conn.execute("SELECT pg_notify('sitewatch_alarm', %s)", (json.dumps({
                "alarm_id": ch.alarm_id, "sensor_id": ch.sensor_id, "event": ch.event,
                "level": ch.level, "ts": ch.ts.isoformat()}),))
        if routed:
            conn.execute("SELECT pg_notify('sitewatch_outbox', '')")
        logger.info("alarms: %s", ", ".join(f"{c.event} #{c.alarm_id} ({c.level}, {c.rule or '-'})"
                                            for c in changes))

    def forget(self) -> None:
        """Drop every cached runtime (after a failed transaction, the cache may be ahead)."""
        self._cache.clear()
