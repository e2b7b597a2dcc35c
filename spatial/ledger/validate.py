"""Check raw ledger records without the database: every problem is collected with its row number.

The database checks (unknown district codes) run in ``importer`` inside the import transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

import shapely
from pyproj import Transformer
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from spatial.crs import STORAGE_SRID
from spatial.ledger import columns, values
from spatial.ledger.geometry import reproject, to_footprint
from spatial.ledger.read import RawTable

_EWKT = re.compile(r"^\s*SRID=(\d+)\s*;\s*(.*)$", re.IGNORECASE | re.DOTALL)
_FIELD_ORDER = {name: i for i, name in enumerate(
    (*columns.KINDS, *columns.NAME_FIELDS, "geometry", *columns.GEOMETRY_FIELDS))}


@dataclass
class Checked:
    """Clean rows ready to write, or the problems that stop the import."""

    rows: list[dict[str, Any]] = field(default_factory=list)   # field -> value, "footprint", "row"
    fields: list[str] = field(default_factory=list)            # project columns to write
    errors: list[dict] = field(default_factory=list)
    repaired: list[int] = field(default_factory=list)
    estimated: list[int] = field(default_factory=list)
    enterprises: dict[str, dict] = field(default_factory=dict)  # code -> {"name", "roles"}
    districts: dict[str, list[int]] = field(default_factory=dict)  # code -> rows naming it

    def error(self, row: int, field_name: str, reason: str) -> None:
        self.errors.append({"row": row, "field": field_name, "reason": reason})


def _parser(field_name: str) -> Callable[[Any], Any]:
    kind = columns.KINDS[field_name]
    if kind == "code":
        return values.parse_project_code
    if kind == "district":
        return values.parse_district
    if kind == "credit":
        return values.parse_credit_code
    if kind == "permit":
        return values.parse_permit
    if kind == "enum":
        return lambda v: values.parse_enum(field_name, v)
    if kind == "decimal":
        return lambda v: values.parse_decimal(v, limit=columns.LIMITS[field_name])
    if kind == "int":
        return lambda v: values.parse_int(v, limit=int(columns.LIMITS[field_name]))
    if kind == "date":
        return values.parse_date
    if kind == "bool":
        return values.parse_bool
    if kind == "hazards":
        return values.parse_hazards
    limit = columns.MAX_LENGTH.get(field_name)

    def text(v: Any) -> str | None:
        s = values.parse_text(v)
        if s is not None and limit is not None and len(s) > limit:
            raise ValueError(f"longer than {limit} characters")
        return s
    return text


_PARSERS = {name: _parser(name) for name in columns.KINDS}


def check(table: RawTable) -> Checked:
    out = Checked()
    for name in columns.REQUIRED:
        if name not in table.fields:
            headers = " / ".join(columns.HEADERS[name][:2])
            out.error(table.header_row, name, f"required column {headers} is missing")
    present = [f for f in columns.KINDS if f in table.fields]
    out.fields = [f for f in present if f != "footprint_estimated"] + ["footprint_estimated"]
    for number, record, geom in zip(table.rows, table.records, table.geometries):
        row = _check_row(out, table, number, record, geom, present)
        if row is not None:
            out.rows.append(row)
    _check_duplicates(out, table)
    sort_errors(out.errors)
    return out


def sort_errors(errors: list[dict]) -> None:
    """By row, then in column order."""
    errors.sort(key=lambda e: (e["row"], _FIELD_ORDER.get(e["field"], 99)))


def _check_row(out: Checked, table: RawTable, number: int, record: dict[str, Any],
               geom: BaseGeometry | None, present: list[str]) -> dict[str, Any] | None:
    before = len(out.errors)
    clean: dict[str, Any] = {"row": number}
    for name in present:
        try:
            clean[name] = _PARSERS[name](record.get(name))
        except ValueError as exc:
            out.error(number, name, str(exc))
            clean[name] = None
            continue
        if name in columns.REQUIRED and clean[name] is None:
            out.error(number, name, "required")
    if clean.get("district_code"):
        out.districts.setdefault(clean["district_code"], []).append(number)
    for first, last in (("planned_start", "planned_finish"), ("actual_start", "actual_finish")):
        start, finish = clean.get(first), clean.get(last)
        if isinstance(start, date) and isinstance(finish, date) and finish < start:
            out.error(number, last, f"{finish} is before {first} {start}")
    if "hazardous_works" in clean and clean["hazardous_works"] is None:
        clean["hazardous_works"] = []
    try:
        source = geom if geom is not None else _table_geometry(record, table.fields)
        footprint = to_footprint(source)
    except ValueError as exc:
        field_name = exc.args[1] if len(exc.args) > 1 else "geometry"
        out.error(number, field_name, str(exc.args[0]))
    else:
        clean["footprint"] = footprint.geom
        if footprint.repaired:
            out.repaired.append(number)
        if footprint.estimated:
            out.estimated.append(number)
        clean["footprint_estimated"] = footprint.estimated or bool(
            clean.get("footprint_estimated"))
    _collect_enterprises(out, number, record, clean, table.fields)
    return clean if len(out.errors) == before else None


def _table_geometry(record: dict[str, Any], present: set[str]) -> BaseGeometry | None:
    """The geometry of a row without a vector geometry: WKT first, else lon/lat."""
    if "wkt" in present and not values.is_empty(record.get("wkt")):
        return _parse_wkt(str(record["wkt"]))
    lon_lat = []
    for name in ("lon", "lat"):
        if name not in present:
            return None
        try:
            lon_lat.append(values.parse_number(record.get(name)))
        except ValueError as exc:
            raise ValueError(str(exc), name) from None
    lon, lat = lon_lat
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        missing = "lon" if lon is None else "lat"
        raise ValueError("longitude and latitude must both be given", missing)
    if 3 <= lon <= 54 and 73 <= lat <= 136:
        raise ValueError(f"longitude {lon} and latitude {lat} look swapped", "lon")
    return Point(lon, lat)


def _parse_wkt(text: str) -> BaseGeometry:
    srid = STORAGE_SRID
    match = _EWKT.match(text)
    if match:
        srid, text = int(match.group(1)), match.group(2)
    try:
        geom = shapely.from_wkt(text.strip())
    except shapely.errors.GEOSException as exc:
        raise ValueError(f"not WKT: {exc}", "wkt") from None
    if srid != STORAGE_SRID and geom is not None:
        try:
            t = Transformer.from_crs(f"EPSG:{srid}", f"EPSG:{STORAGE_SRID}", always_xy=True)
        except Exception as exc:  # pyproj.exceptions.CRSError
            raise ValueError(f"unknown SRID {srid}: {exc}", "wkt") from None
        geom = reproject(geom, t)
    return geom


def _collect_enterprises(out: Checked, number: int, record: dict[str, Any],
                         clean: dict[str, Any], present: set[str]) -> None:
    for unit, role in columns.UNIT_ROLES.items():
        name_field = f"{unit}_name"
        name = None
        if name_field in present:
            try:
                name = values.parse_text(record.get(name_field))
            except ValueError as exc:
                out.error(number, name_field, str(exc))
        code = clean.get(unit)
        if code is None:
            continue
        entry = out.enterprises.setdefault(code, {"name": None, "roles": set()})
        entry["roles"].add(role)
        if name and entry["name"] is None:
            entry["name"] = name


def _check_duplicates(out: Checked, table: RawTable) -> None:
    seen: dict[str, list[int]] = {}
    for number, record in zip(table.rows, table.records):
        try:
            code = values.parse_project_code(record.get("code"))
        except ValueError:
            continue
        if code is not None:
            seen.setdefault(code, []).append(number)
    duplicated = {n for rows in seen.values() if len(rows) > 1 for n in rows}
    for code, rows in seen.items():
        if len(rows) > 1:
            listed = ", ".join(str(r) for r in rows)
            for number in rows:
                out.error(number, "code", f"project code {code} appears more than once "
                                          f"(rows {listed})")
    out.rows = [r for r in out.rows if r["row"] not in duplicated]
