"""The sensor registry's storage side: validate, create, read, update, delete; rule overrides.

Rules are validated by compiling the *effective* rules (kind default, profile, project override,
the sensor's own) exactly as the ingest worker will, so a write that would leave a sensor without
working rules is refused with the reason.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sensors.kinds import HAZARD_CATEGORIES, KINDS, canonical_unit
from sensors.rules import RuleError, compile_rules
from spatial.errors import NotFound, ValidationFailed

CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$"


class Location(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3)

    @field_validator("coordinates")
    @classmethod
    def _range(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(c) for c in v):
            raise ValueError("coordinates must be finite")
        if not (-180 <= v[0] <= 180 and -90 <= v[1] <= 90):
            raise ValueError("coordinates are [longitude, latitude(, height)] in CRS84")
        return v


class SensorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=20)
    location: Location | None = None
    hazardous_work: Literal[HAZARD_CATEGORIES] | None = None  # type: ignore[valid-type]
    profile: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")
    rules: dict | None = None


class SensorCreate(SensorPatch):
    code: str = Field(pattern=CODE_PATTERN)
    kind: Literal[tuple(KINDS)]  # type: ignore[valid-type]
    location: Location


def _errors(exc: ValidationError) -> list[dict]:
    return [{"row": 0, "field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
            for e in exc.errors()]


def validate(body: object, *, create: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", [
            {"row": 0, "field": "body", "reason": "not an object"}])
    try:
        model = (SensorCreate if create else SensorPatch).model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed("invalid sensor", _errors(exc)) from exc
    return model.model_dump(exclude_unset=True)


_SELECT = """
SELECT json_build_object(
    'id', s.id, 'code', s.code, 'name', s.name, 'kind', s.kind, 'unit', s.unit,
    'project_code', e.project_code, 'district_code', e.district_code,
    'hazardous_work', s.hazardous_work, 'profile', s.profile,
    'location', ST_AsGeoJSON(s.location, 7)::json,
    'rules', s.rules, 'effective_rules', e.rules,
    'state', CASE WHEN st.last_ts IS NULL THEN 'no_data' ELSE st.level END,
    'value', st.last_value, 'ts', st.last_ts, 'open_alarm_id', st.open_alarm_id,
    'created_at', s.created_at, 'updated_at', s.updated_at)::text
FROM sitewatch.sensor s
JOIN sitewatch.sensor_effective e ON e.id = s.id
LEFT JOIN sitewatch.sensor_state st ON st.sensor_id = s.id
"""


def get(conn: psycopg.Connection, sensor_id: int) -> dict:
    row = conn.execute(_SELECT + "WHERE s.id = %s", (sensor_id,)).fetchone()
    if row is None:
        raise NotFound(f"sensor {sensor_id} not found")
    return json.loads(row[0])


def listing(conn: psycopg.Connection, project_code: str) -> list[dict]:
    _project_id(conn, project_code)
    rows = conn.execute(_SELECT + "WHERE e.project_code = %s ORDER BY s.code",
                        (project_code,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def project_of(conn: psycopg.Connection, sensor_id: int) -> str:
    """The code of the project a sensor belongs to (permission checks)."""
    row = conn.execute("SELECT p.code FROM sitewatch.sensor s JOIN sitewatch.project p "
                       "ON p.id = s.project_id WHERE s.id = %s", (sensor_id,)).fetchone()
    if row is None:
        raise NotFound(f"sensor {sensor_id} not found")
    return row[0]


def _project_id(conn: psycopg.Connection, code: str) -> int:
    row = conn.execute("SELECT id FROM sitewatch.project WHERE code = %s", (code,)).fetchone()
    if row is None:
        raise NotFound(f"project {code!r} not found")
    return row[0]


def _check_unit(kind: str, unit: str | None) -> str:
    canonical = KINDS[kind]
    if unit is not None and canonical_unit(unit) != canonical:
        raise ValidationFailed("wrong unit for this kind", [
            {"row": 0, "field": "unit", "reason": f"{kind} is measured in {canonical}"}])
    return canonical


def _check_rules(conn: psycopg.Connection, project_id: int, kind: str, profile: str,
                 sensor_rules: dict, project_rules: dict | None = None) -> None:
    known = conn.execute("SELECT 1 FROM sitewatch.sensor_rule_default WHERE kind = %s AND "
                         "profile = %s", (kind, profile)).fetchone()
    if profile != "standard" and not known:
        raise ValidationFailed("unknown rule profile", [
            {"row": 0, "field": "profile", "reason": f"{kind} has no profile {profile!r}"}])
    effective = conn.execute(
        "SELECT jsonb_strip_nulls(sitewatch.jsonb_merge(sitewatch.jsonb_merge(sitewatch.jsonb_merge("
        "d.rules, dp.rules), coalesce(%(project)s, pr.rules)), %(sensor)s)) "
        "FROM sitewatch.sensor_rule_default d "
        "LEFT JOIN sitewatch.sensor_rule_default dp ON dp.kind = d.kind AND dp.profile = %(profile)s "
        "  AND %(profile)s <> 'standard' "
        "LEFT JOIN sitewatch.project_sensor_rules pr ON pr.project_id = %(pid)s AND pr.kind = d.kind "
        "WHERE d.kind = %(kind)s AND d.profile = 'standard'",
        {"project": Jsonb(project_rules) if project_rules is not None else None,
         "sensor": Jsonb(sensor_rules), "profile": profile, "pid": project_id, "kind": kind},
    ).fetchone()[0]  # type: ignore[index]
    try:
        compile_rules(effective)
    except RuleError as exc:
        raise ValidationFailed("the rules do not compile", [
            {"row": 0, "field": "rules", "reason": str(exc)}]) from exc


def _duplicate(conn: psycopg.Connection, project_id: int, code: str, sensor_id: int = 0) -> None:
    if conn.execute("SELECT 1 FROM sitewatch.sensor WHERE project_id = %s AND code = %s AND id <> %s",
                    (project_id, code, sensor_id)).fetchone():
        raise ValidationFailed("a sensor with this code exists in the project", [
            {"row": 0, "field": "code", "reason": "duplicate sensor code"}])


def _point(loc: dict) -> tuple[float, float, float]:
    c = loc["coordinates"]
    return c[0], c[1], c[2] if len(c) > 2 else 0.0


def create(conn: psycopg.Connection, project_code: str, fields: dict[str, Any]) -> dict:
    with conn.transaction():
        pid = _project_id(conn, project_code)
        unit = _check_unit(fields["kind"], fields.get("unit"))
        profile = fields.get("profile") or "standard"
        rules = fields.get("rules") or {}
        _check_rules(conn, pid, fields["kind"], profile, rules)
        _duplicate(conn, pid, fields["code"])
        x, y, z = _point(fields["location"])
        sid = conn.execute(
            "INSERT INTO sitewatch.sensor (project_id, code, name, kind, unit, location, "
            "hazardous_work, profile, rules) VALUES (%s, %s, %s, %s, %s, "
            "ST_SetSRID(ST_MakePoint(%s, %s, %s), 4490), %s, %s, %s) RETURNING id",
            (pid, fields["code"], fields.get("name"), fields["kind"], unit, x, y, z,
             fields.get("hazardous_work"), profile, Jsonb(rules))).fetchone()[0]  # type: ignore[index]
    return get(conn, sid)


def update(conn: psycopg.Connection, sensor_id: int, fields: dict[str, Any]) -> dict:
    if not fields:
        return get(conn, sensor_id)
    with conn.transaction():
        row = conn.execute("SELECT project_id, kind, profile, rules FROM sitewatch.sensor "
                           "WHERE id = %s FOR UPDATE", (sensor_id,)).fetchone()
        if row is None:
            raise NotFound(f"sensor {sensor_id} not found")
        pid, kind, profile, rules = row
        if "unit" in fields:
            fields["unit"] = _check_unit(kind, fields["unit"])
        if "rules" in fields or "profile" in fields:
            _check_rules(conn, pid, kind, fields.get("profile") or profile,
                         fields["rules"] if fields.get("rules") is not None else rules)
        if fields.get("code"):
            _duplicate(conn, pid, fields["code"], sensor_id)
        sets: list[sql.Composable] = []
        params: list[Any] = []
        for name in ("code", "name", "unit", "hazardous_work", "profile"):
            if name in fields:
                sets.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(fields[name] if name != "profile" else fields[name] or "standard")
        if "rules" in fields:
            sets.append(sql.SQL("rules = %s"))
            params.append(Jsonb(fields["rules"] or {}))
        if fields.get("location"):
            sets.append(sql.SQL("location = ST_SetSRID(ST_MakePoint(%s, %s, %s), 4490)"))
            params.extend(_point(fields["location"]))
        conn.execute(sql.SQL("UPDATE sitewatch.sensor SET {}, updated_at = now() WHERE id = %s")
                     .format(sql.SQL(", ").join(sets)), (*params, sensor_id))
    return get(conn, sensor_id)


def delete(conn: psycopg.Connection, sensor_id: int) -> None:
    """Delete a sensor, its readings, state and alarms."""
    with conn.transaction():
        cur = conn.execute("DELETE FROM sitewatch.sensor WHERE id = %s", (sensor_id,))
        if cur.rowcount == 0:
            raise NotFound(f"sensor {sensor_id} not found")
        conn.execute("DELETE FROM sitewatch.reading WHERE sensor_id = %s", (sensor_id,))


def project_rules(conn: psycopg.Connection, project_code: str) -> dict[str, dict]:
    pid = _project_id(conn, project_code)
    return dict(conn.execute("SELECT kind, rules FROM sitewatch.project_sensor_rules "
                             "WHERE project_id = %s ORDER BY kind", (pid,)).fetchall())


def set_project_rules(conn: psycopg.Connection, project_code: str, body: object) -> dict[str, dict]:
    """Replace the project's overrides: ``{kind: rules}``; an empty object removes a kind's."""
    if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
        raise ValidationFailed("the body must be an object {kind: rules}", [
            {"row": 0, "field": "body", "reason": "not an object of objects"}])
    unknown = sorted(set(body) - set(KINDS))
    if unknown:
        raise ValidationFailed("unknown sensor kinds", [
            {"row": 0, "field": k, "reason": "unknown kind"} for k in unknown])
    with conn.transaction():
        pid = _project_id(conn, project_code)
        for kind, rules in body.items():
            for profile, own in conn.execute(
                    "SELECT profile, rules FROM sitewatch.sensor WHERE project_id = %s AND "
                    "kind = %s", (pid, kind)).fetchall():
                _check_rules(conn, pid, kind, profile, own, rules)
            _check_rules(conn, pid, kind, "standard", {}, rules)
        conn.execute("DELETE FROM sitewatch.project_sensor_rules WHERE project_id = %s", (pid,))
        for kind, rules in body.items():
            if rules:
                conn.execute("INSERT INTO sitewatch.project_sensor_rules (project_id, kind, rules) "
                             "VALUES (%s, %s, %s)", (pid, kind, Jsonb(rules)))
    return project_rules(conn, project_code)
