"""Alarms as people see them: list, read with their transitions, acknowledge with a note."""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from sensors import notify
from spatial.errors import NotFound, SpatialError

STATES = ("open", "acknowledged", "closed")


class AlreadyAcknowledged(SpatialError):
    """The alarm was acknowledged before (HTTP 409)."""


_ALARM_JSON = sql.SQL("""
json_build_object(
    'id', a.id, 'sensor_id', a.sensor_id, 'sensor_code', s.code, 'sensor_kind', s.kind,
    'unit', s.unit, 'project_code', p.code, 'district_code', p.district_code,
    'state', a.state, 'level', a.level, 'rule', a.rule, 'opened_at', a.opened_at,
    'opened_value', a.opened_value, 'threshold', a.threshold, 'peak_value', a.peak_value,
    'escalated_at', a.escalated_at, 'acknowledged_at', a.acknowledged_at,
    'acknowledged_by', a.acknowledged_by, 'ack_note', a.ack_note, 'closed_at', a.closed_at,
    'closed_value', a.closed_value, 'created_at', a.created_at,
    'location', ST_AsGeoJSON(s.location, 7)::json)::text
""")
_FROM = sql.SQL("""
FROM sitewatch.alarm a
JOIN sitewatch.sensor s ON s.id = a.sensor_id
JOIN sitewatch.project p ON p.id = s.project_id
""")


def listing(conn: psycopg.Connection, *, state: str | None = None,
            project_code: str | None = None, district_code: str | None = None,
            limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """Alarms newest first; ``state`` ``active`` means open or acknowledged."""
    clauses = [sql.SQL("TRUE")]
    params: dict = {"limit": limit, "offset": offset}
    if state == "active":
        clauses.append(sql.SQL("a.state <> 'closed'"))
    elif state is not None:
        clauses.append(sql.SQL("a.state = %(state)s"))
        params["state"] = state
    if project_code is not None:
        clauses.append(sql.SQL("p.code = %(project)s"))
        params["project"] = project_code
    if district_code is not None:
        clauses.append(sql.SQL("p.district_code = %(district)s"))
        params["district"] = district_code
    where = sql.SQL(" AND ").join(clauses)
    rows = conn.execute(sql.SQL("SELECT {} {} WHERE {} ORDER BY a.opened_at DESC, a.id DESC "
                                "LIMIT %(limit)s OFFSET %(offset)s").format(_ALARM_JSON, _FROM, where),
                        params).fetchall()
    total = conn.execute(sql.SQL("SELECT count(*) {} WHERE {}").format(_FROM, where),
                         params).fetchone()[0]  # type: ignore[index]
    return [json.loads(r[0]) for r in rows], total


def get(conn: psycopg.Connection, alarm_id: int) -> dict:
    row = conn.execute(sql.SQL("SELECT {} {} WHERE a.id = %s").format(_ALARM_JSON, _FROM),
                       (alarm_id,)).fetchone()
    if row is None:
        raise NotFound(f"alarm {alarm_id} not found")
    alarm = json.loads(row[0])
    alarm["transitions"] = [json.loads(r[0]) for r in conn.execute(
        "SELECT json_build_object('event', event, 'level', level, 'rule', rule, "
        "'reading_ts', reading_ts, 'value', value, 'actor', actor, 'note', note, 'at', at)::text "
        "FROM sitewatch.alarm_transition WHERE alarm_id = %s ORDER BY at, id", (alarm_id,))]
    return alarm


def scope(conn: psycopg.Connection, alarm_id: int) -> tuple[str, str]:
    """(project code, district code) of an alarm, for permission checks."""
    row = conn.execute(sql.SQL("SELECT p.code, p.district_code {} WHERE a.id = %s").format(_FROM),
                       (alarm_id,)).fetchone()
    if row is None:
        raise NotFound(f"alarm {alarm_id} not found")
    return row[0], row[1]


def acknowledge(conn: psycopg.Connection, alarm_id: int, *, token_id: int | None,
                note: str) -> dict:
    """Record that a supervisor has seen the alarm.  An open alarm becomes ``acknowledged``; a
    closed one stays closed with the acknowledgement recorded."""
    with conn.transaction():
        row = conn.execute("SELECT level, acknowledged_at FROM sitewatch.alarm WHERE id = %s "
                           "FOR UPDATE", (alarm_id,)).fetchone()
        if row is None:
            raise NotFound(f"alarm {alarm_id} not found")
        if row[1] is not None:
            raise AlreadyAcknowledged(f"alarm {alarm_id} was acknowledged at {row[1].isoformat()}")
        conn.execute(
            "UPDATE sitewatch.alarm SET state = CASE WHEN state = 'open' THEN 'acknowledged' "
            "ELSE state END, acknowledged_at = now(), acknowledged_by = %s, ack_note = %s "
            "WHERE id = %s", (token_id, note, alarm_id))
        conn.execute(
            "INSERT INTO sitewatch.alarm_transition (alarm_id, event, level, actor, token_id, note)"
            " VALUES (%s, 'acknowledged', %s, %s, %s, %s)",
            (alarm_id, row[0], f"token:{token_id}" if token_id else "unknown", token_id, note))
        if notify.route(conn, alarm_id, "acknowledged"):
            conn.execute("SELECT pg_notify('sitewatch_outbox', '')")
    return get(conn, alarm_id)
