"""One project at a time: validate, read, create, update, delete (the REST API's storage side).

Batch loading lives in ``spatial.ledger``; both check the same identifiers (``spatial.codes``).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

import psycopg
import shapely
import shapely.geometry
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from spatial import codes
from spatial.collections import KEY_LIVELIHOOD, PROJECT_TYPES, STAGES
from spatial.errors import NotFound, ValidationFailed

PARTY_FIELDS = ("construction_unit", "contractor_unit", "supervision_unit", "survey_unit",
                "design_unit")
# What an enterprise token may change on its own projects: site facts, not the ledger identity.
ENTERPRISE_FIELDS = frozenset({"image_progress", "actual_start", "actual_finish",
                               "project_manager", "hazardous_works"})

HAZARD_CATEGORIES = ("excavation", "formwork", "lifting", "scaffolding", "demolition",
                     "tunnelling", "curtain_wall", "steel_structure", "manual_piles", "other")


class HazardousWork(BaseModel):
    """One entry of the hazardous-works list (危大工程, 建办质〔2018〕31号)."""

    model_config = ConfigDict(extra="forbid")
    category: Literal[HAZARD_CATEGORIES]  # type: ignore[valid-type]
    beyond_scale: bool = False            # 超过一定规模
    description: str | None = Field(default=None, max_length=500)
    kind: str | None = Field(default=None, max_length=50)   # e.g. crane_installation, climbing
    depth_m: float | None = Field(default=None, ge=0)        # excavation, manual piles
    height_m: float | None = Field(default=None, ge=0)       # formwork, scaffolding, curtain wall
    span_m: float | None = Field(default=None, ge=0)         # formwork, steel structure
    load_kn: float | None = Field(default=None, ge=0)        # lifting


class ProjectPatch(BaseModel):
    """Fields of a project as the API takes them; all optional (a PATCH)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str | None = Field(default=None, pattern=r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    district_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    permit_no: str | None = None
    type: Literal[PROJECT_TYPES] | None = None  # type: ignore[valid-type]
    stage: Literal[STAGES] | None = None  # type: ignore[valid-type]
    key_livelihood: Literal[KEY_LIVELIHOOD] | None = None  # type: ignore[valid-type]
    construction_unit: str | None = None
    contractor_unit: str | None = None
    supervision_unit: str | None = None
    survey_unit: str | None = None
    design_unit: str | None = None
    investment: float | None = Field(default=None, ge=0, le=1e12)
    floor_area: float | None = Field(default=None, ge=0, le=1e9)
    storeys: int | None = Field(default=None, ge=0, le=200)
    planned_start: date | None = None
    planned_finish: date | None = None
    actual_start: date | None = None
    actual_finish: date | None = None
    project_manager: str | None = Field(default=None, max_length=100)
    chief_supervisor: str | None = Field(default=None, max_length=100)
    image_progress: str | None = Field(default=None, max_length=500)
    hazardous_works: list[HazardousWork] | None = None
    geometry: dict | None = None  # GeoJSON Polygon/MultiPolygon in CRS84

    @field_validator("permit_no")
    @classmethod
    def _permit(cls, v: str | None) -> str | None:
        if v is not None and not codes.is_valid_permit_no(v):
            raise ValueError("not an 18-digit permit number (region + date + serial + trade)")
        return v

    @field_validator(*PARTY_FIELDS)
    @classmethod
    def _credit(cls, v: str | None) -> str | None:
        if v is not None and not codes.is_valid_credit_code(v):
            raise ValueError("not a valid unified social credit code (GB 32100)")
        return v

    @field_validator("geometry")
    @classmethod
    def _geometry(cls, v: dict | None) -> dict | None:
        if v is None:
            return v
        if v.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("footprint must be a GeoJSON Polygon or MultiPolygon")
        try:
            geom = shapely.geometry.shape(v)
        except Exception as exc:  # noqa: BLE001 - shapely raises several kinds
            raise ValueError(f"not a readable GeoJSON polygon: {exc}") from exc
        if geom.is_empty:
            raise ValueError("the footprint is empty")
        if not geom.is_valid:
            raise ValueError(f"the footprint is not valid: {shapely.is_valid_reason(geom)}")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ValueError("coordinates must be longitude, latitude (CRS84)")
        return v

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL text cannot hold NUL; say so instead of failing in the driver."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value


REQUIRED = ("code", "name", "district_code", "type", "stage", "geometry")


def validate(payload: Any, *, create: bool) -> dict[str, Any]:
    """Check a JSON body; return the fields that were set.  ValidationFailed lists every problem."""
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object", [
            {"row": 0, "field": "", "reason": "expected an object"}])
    try:
        fields = ProjectPatch.model_validate(payload).model_dump(exclude_unset=True)
    except ValidationError as exc:
        errors = [{"row": 0, "field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
                  for e in exc.errors()]
        raise ValidationFailed("the project is not valid", errors) from exc
    missing = [f for f in REQUIRED if create and fields.get(f) is None]
    if missing:
        raise ValidationFailed("required fields are missing", [
            {"row": 0, "field": f, "reason": "required"} for f in missing])
    start, finish = fields.get("planned_start"), fields.get("planned_finish")
    if start and finish and finish < start:
        raise ValidationFailed("planned dates are reversed", [
            {"row": 0, "field": "planned_finish", "reason": "before planned_start"}])
    return fields


_SELECT = sql.SQL(
    "SELECT json_build_object('code', t.code, 'name', t.name, 'address', t.address, "
    "'district_code', t.district_code, 'permit_no', t.permit_no, 'type', t.type, "
    "'stage', t.stage, 'key_livelihood', t.key_livelihood, "
    "'construction_unit', t.construction_unit, 'contractor_unit', t.contractor_unit, "
    "'supervision_unit', t.supervision_unit, 'survey_unit', t.survey_unit, "
    "'design_unit', t.design_unit, 'investment', t.investment, 'floor_area', t.floor_area, "
    "'storeys', t.storeys, 'planned_start', t.planned_start, 'planned_finish', t.planned_finish, "
    "'actual_start', t.actual_start, 'actual_finish', t.actual_finish, "
    "'project_manager', t.project_manager, 'chief_supervisor', t.chief_supervisor, "
    "'image_progress', t.image_progress, 'hazardous_works', t.hazardous_works, "
    "'footprint_estimated', t.footprint_estimated, 'updated_at', t.updated_at, "
    "'stage_history', (SELECT coalesce(json_agg(json_build_object('stage', h.stage, "
    "'entered_on', h.entered_on) ORDER BY h.entered_on), '[]') "
    "FROM sitewatch.project_stage_history h WHERE h.project_id = t.id), "
    "'geometry', ST_AsGeoJSON(t.footprint, 7, 0)::json)::text FROM sitewatch.project t"
)


def get(conn: psycopg.Connection, code: str) -> dict:
    row = conn.execute(_SELECT + sql.SQL(" WHERE t.code = %s"), (code,)).fetchone()
    if row is None:
        raise NotFound(f"project {code!r} not found")
    return json.loads(row[0])


def parties(conn: psycopg.Connection, code: str) -> tuple[str | None, set[str]]:
    """(district code, credit codes of its parties) for permission checks."""
    row = conn.execute(
        "SELECT district_code, construction_unit, contractor_unit, supervision_unit, survey_unit,"
        " design_unit FROM sitewatch.project WHERE code = %s", (code,)).fetchone()
    if row is None:
        raise NotFound(f"project {code!r} not found")
    return row[0], {c for c in row[1:] if c}


def _check_references(conn: psycopg.Connection, fields: dict[str, Any]) -> None:
    errors = []
    if "district_code" in fields:
        if not conn.execute("SELECT 1 FROM sitewatch.district WHERE code = %s",
                            (fields["district_code"],)).fetchone():
            errors.append({"row": 0, "field": "district_code", "reason": "unknown district code"})
    for f in PARTY_FIELDS:
        if fields.get(f) and not conn.execute(
                "SELECT 1 FROM sitewatch.enterprise WHERE credit_code = %s", (fields[f],)).fetchone():
            errors.append({"row": 0, "field": f, "reason": "unknown enterprise (credit code)"})
    if errors:
        raise ValidationFailed("the project refers to unknown records", errors)


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "hazardous_works" in out:
        out["hazardous_works"] = json.dumps(out["hazardous_works"] or [], ensure_ascii=False)
    if "geometry" in out:
        out["geometry"] = json.dumps(out["geometry"])
    return out


def _assignments(fields: dict[str, Any]) -> list[sql.Composable]:
    parts = []
    for name in fields:
        if name == "geometry":
            parts.append(sql.SQL(
                "footprint = ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(%(geometry)s), 4490))"))
        elif name == "hazardous_works":
            parts.append(sql.SQL("hazardous_works = %(hazardous_works)s::jsonb"))
        else:
            parts.append(sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)))
    return parts


def _geometry_ok(conn: psycopg.Connection, geojson: str) -> None:
    try:
        valid, reason = conn.execute(
            "SELECT ST_IsValid(g), ST_IsValidReason(g) FROM "
            "(SELECT ST_SetSRID(ST_GeomFromGeoJSON(%s), 4490) g) s", (geojson,)).fetchone()
    except psycopg.DataError as exc:
        raise ValidationFailed("the footprint is not valid GeoJSON", [
            {"row": 0, "field": "geometry", "reason": exc.diag.message_primary}]) from exc
    if not valid:
        raise ValidationFailed("the footprint is not a valid polygon", [
            {"row": 0, "field": "geometry", "reason": reason}])


def create(conn: psycopg.Connection, fields: dict[str, Any]) -> dict:
    values = _values(fields)
    with conn.transaction():
        _check_references(conn, fields)
        _geometry_ok(conn, values["geometry"])
        names = [n for n in fields if n != "geometry"]
        cols = sql.SQL(", ").join([sql.Identifier(n) for n in names] + [sql.Identifier("footprint")])
        vals = sql.SQL(", ").join(
            [sql.SQL("%(hazardous_works)s::jsonb") if n == "hazardous_works" else sql.Placeholder(n)
             for n in names]
            + [sql.SQL("ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(%(geometry)s), 4490))")])
        exists = conn.execute("SELECT 1 FROM sitewatch.project WHERE code = %s",
                              (fields["code"],)).fetchone()
        if exists:
            raise ValidationFailed("a project with this code exists", [
                {"row": 0, "field": "code", "reason": "duplicate project code"}])
        project_id = conn.execute(
            sql.SQL("INSERT INTO sitewatch.project ({}) VALUES ({}) RETURNING id").format(cols, vals),
            values).fetchone()[0]
        conn.execute(
            "INSERT INTO sitewatch.project_stage_history (project_id, stage, entered_on)"
            " VALUES (%s, %s, current_date)", (project_id, fields["stage"]))
    return get(conn, fields["code"])


def update(conn: psycopg.Connection, code: str, fields: dict[str, Any]) -> dict:
    if not fields:
        return get(conn, code)
    values = _values(fields)
    with conn.transaction():
        row = conn.execute("SELECT id, stage FROM sitewatch.project WHERE code = %s FOR UPDATE",
                           (code,)).fetchone()
        if row is None:
            raise NotFound(f"project {code!r} not found")
        _check_references(conn, fields)
        if "geometry" in fields:
            _geometry_ok(conn, values["geometry"])
        values["_code"] = code
        conn.execute(sql.SQL("UPDATE sitewatch.project SET {}, updated_at = now() WHERE code = %(_code)s")
                     .format(sql.SQL(", ").join(_assignments(fields))), values)
        if fields.get("stage") and fields["stage"] != row[1]:
            conn.execute(
                "INSERT INTO sitewatch.project_stage_history (project_id, stage, entered_on)"
                " VALUES (%s, %s, current_date) ON CONFLICT DO NOTHING", (row[0], fields["stage"]))
    return get(conn, fields.get("code", code))


def delete(conn: psycopg.Connection, code: str) -> None:
    with conn.transaction():
        cur = conn.execute("DELETE FROM sitewatch.project WHERE code = %s", (code,))
    if cur.rowcount == 0:
        raise NotFound(f"project {code!r} not found")


_LIST_FIELDS = ("code", "name", "stage", "type", "district_code", "investment", "floor_area",
                "storeys", "planned_start", "planned_finish", "actual_start", "actual_finish",
                "updated_at")
_FILTERS = ("stage", "type", "district_code")


def listing(conn: psycopg.Connection, filters: dict[str, str], *, limit: int,
            offset: int) -> tuple[list[dict], int]:
    """Ledger rows (no geometry) ordered by code, and the number matched."""
    where = sql.SQL(" AND ").join(
        [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k))
         for k in filters if k in _FILTERS] or [sql.SQL("TRUE")])
    obj = sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(f), sql.Identifier(f))
                             for f in _LIST_FIELDS)
    params = {**filters, "limit": limit, "offset": offset}
    rows = conn.execute(
        sql.SQL("SELECT json_build_object({})::text FROM sitewatch.project t WHERE {} "
                "ORDER BY t.code LIMIT %(limit)s OFFSET %(offset)s").format(obj, where),
        params).fetchall()
    total = conn.execute(sql.SQL("SELECT count(*) FROM sitewatch.project t WHERE {}").format(where),
                         params).fetchone()[0]
    return [json.loads(r[0]) for r in rows], total
