"""Export the whole project ledger as GeoPackage, GeoJSON, XLSX or CSV.

- ``gpkg``: layer ``projects``, English snake_case fields, MultiPolygon in EPSG:4490, real Date
  fields; ``hazardous_works`` as a JSON string.
- ``geojson``: RFC 7946 FeatureCollection (CRS84, lon/lat order, no ``crs`` member), feature id =
  project code, ``hazardous_works`` as a JSON array; built from ``ST_AsGeoJSON`` in the database.
- ``xlsx`` / ``csv``: the Chinese headers import reads (``columns.export_header``), Chinese labels
  for coded values, 是/否, ``hazardous_works`` as a JSON string, then 经度/纬度 of a point on the
  footprint and the footprint as WKT (几何), so an export re-imports unchanged.  CSV is UTF-8 with
  a BOM (Excel on Chinese Windows); text cells starting with = + - @ get a leading ``'`` (which
  import removes) so spreadsheets do not run them as formulas.  XLSX freezes the header row.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import tempfile
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterable

import numpy as np
import psycopg
import pyogrio.raw
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from psycopg import sql
from psycopg.rows import dict_row

from spatial.crs import STORAGE_SRID
from spatial.errors import InvalidQuery
from spatial.ledger import columns

logger = logging.getLogger(__name__)

FORMATS = {
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
LAYER = "projects"

# Export column order: project fields, each party followed by its enterprise name, updated_at.
FIELDS: tuple[str, ...] = tuple(
    name for field in columns.KINDS
    for name in ((field, f"{field}_name") if field in columns.UNIT_ROLES else (field,))
) + ("updated_at",)
FLAT_GEOMETRY = ("lon", "lat", "wkt")
_FLAT_HEADERS = {**{f: columns.export_header(f) for f in FIELDS if f != "updated_at"},
                 "updated_at": columns.IGNORED_HEADERS[0],
                 **{f: columns.export_header(f) for f in FLAT_GEOMETRY}}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_GEOMETRY_SQL = {
    "wkb": "ST_AsBinary(p.footprint) AS wkb",
    "geojson": "ST_AsGeoJSON(p.footprint, 15) AS geojson",
    "flat": "ST_X(pt) AS lon, ST_Y(pt) AS lat, ST_AsText(p.footprint) AS wkt",
}


def export_ledger(conn: psycopg.Connection, fmt: str, out: str | Path | BinaryIO) -> None:
    """Write all projects (ordered by code) as ``fmt`` (a key of :data:`FORMATS`) to a path or a
    binary file object."""
    if fmt not in FORMATS:
        raise InvalidQuery(f"unknown export format {fmt!r}; expected one of "
                           f"{', '.join(FORMATS)}", parameter="format")
    geometry = {"gpkg": "wkb", "geojson": "geojson"}.get(fmt, "flat")
    with conn.transaction():
        rows = _fetch(conn, geometry)
    logger.info("exporting %d projects as %s", len(rows), fmt)
    writer = {"gpkg": _write_gpkg, "geojson": _write_geojson, "xlsx": _write_xlsx,
              "csv": _write_csv}[fmt]
    writer(rows, out)


def _fetch(conn: psycopg.Connection, geometry: str) -> list[dict[str, Any]]:
    stored = [sql.SQL("p.{}").format(sql.Identifier(f)) for f in (*columns.KINDS, "updated_at")]
    names = [sql.SQL("{}.name AS {}").format(sql.Identifier(f"e_{unit}"),
                                             sql.Identifier(f"{unit}_name"))
             for unit in columns.UNIT_ROLES]
    joins = [sql.SQL(" LEFT JOIN sitewatch.enterprise {e} ON {e}.credit_code = p.{u}").format(
        e=sql.Identifier(f"e_{unit}"), u=sql.Identifier(unit)) for unit in columns.UNIT_ROLES]
    query = sql.SQL("SELECT {fields}, {geometry} FROM sitewatch.project p{joins}{lateral}"
                    " ORDER BY p.code").format(
        fields=sql.SQL(", ").join(stored + names),
        geometry=sql.SQL(_GEOMETRY_SQL[geometry]),
        joins=sql.Composed(joins),
        lateral=sql.SQL(" CROSS JOIN LATERAL ST_PointOnSurface(p.footprint) AS pt"
                        if geometry == "flat" else ""))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def _to_target(out: str | Path | BinaryIO, write: Any) -> None:
    """Call ``write(binary_file)`` on a path (replaced atomically) or a file object."""
    if isinstance(out, (str, os.PathLike)):
        target = Path(out)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        write(out)


# -- GeoPackage -------------------------------------------------------------------------------

def _gpkg_column(field: str, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
    kind = columns.KINDS.get(field, "text")
    vals = [r[field] for r in rows]
    mask = np.array([v is None for v in vals], dtype=bool)
    if kind == "decimal":
        return np.array([np.nan if v is None else float(v) for v in vals], dtype="float64"), None
    if kind == "int":
        return np.array([0 if v is None else v for v in vals], dtype="int16"), mask
    if kind == "date":
        return np.array([v or "NaT" for v in vals], dtype="datetime64[D]"), None
    if kind == "bool":
        return np.array(vals, dtype=bool), None
    if kind == "hazards":
        return np.array([json.dumps(v, ensure_ascii=False) for v in vals], dtype=object), None
    if field == "updated_at":
        utc = [v.astimezone(timezone.utc).replace(tzinfo=None) for v in vals]
        return np.array(utc, dtype="datetime64[ms]"), None
    return np.array(vals, dtype=object), mask


def _write_gpkg(rows: list[dict[str, Any]], out: str | Path | BinaryIO) -> None:
    data, masks = zip(*(_gpkg_column(f, rows) for f in FIELDS))
    geometry = np.array([bytes(r["wkb"]) for r in rows], dtype=object)
    with tempfile.TemporaryDirectory(prefix="sitewatch-export-") as tmp:
        path = Path(tmp) / "projects.gpkg"
        pyogrio.raw.write(
            path, geometry, list(data), list(FIELDS), field_mask=list(masks), layer=LAYER,
            driver="GPKG", geometry_type="MultiPolygon", crs=f"EPSG:{STORAGE_SRID}",
            encoding="UTF-8", gdal_tz_offsets={"updated_at": np.full(len(rows), 100)})

        def copy(fh: IO[bytes]) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh)
        _to_target(out, copy)


# -- GeoJSON ----------------------------------------------------------------------------------

def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _write_geojson(rows: list[dict[str, Any]], out: str | Path | BinaryIO) -> None:
    def write(fh: IO[bytes]) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="\n", write_through=True)
        text.write('{"type": "FeatureCollection", "name": "projects", "features": [')
        for i, row in enumerate(rows):
            props = {f: _json_value(row[f]) for f in FIELDS}
            text.write(("," if i else "") + '\n{"type": "Feature", "id": '
                       + json.dumps(row["code"], ensure_ascii=False) + ', "geometry": '
                       + row["geojson"] + ', "properties": '
                       + json.dumps(props, ensure_ascii=False) + "}")
        text.write("\n]}\n")
        text.flush()
        text.detach()
    _to_target(out, write)


# -- XLSX and CSV -----------------------------------------------------------------------------

def _flat_row(row: dict[str, Any]) -> list[Any]:
    """Values in export order, typed for a spreadsheet (date, float, str, None)."""
    values = []
    for field in (*FIELDS, *FLAT_GEOMETRY):
        value = row[field]
        kind = columns.KINDS.get(field)
        if kind == "enum":
            value = columns.ENUMS[field].label(value)
        elif kind == "bool":
            value = columns.BOOL_LABELS[bool(value)]
        elif kind == "hazards":
            value = json.dumps(value or [], ensure_ascii=False)
        elif field == "updated_at":
            value = value.isoformat(timespec="seconds")
        values.append(value)
    return values


def _headers() -> list[str]:
    return [_FLAT_HEADERS[f] for f in (*FIELDS, *FLAT_GEOMETRY)]


def _write_xlsx(rows: list[dict[str, Any]], out: str | Path | BinaryIO) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("项目台账")
    ws.freeze_panes = "A2"
    headers = _headers()
    for i, header in enumerate(headers, start=1):
        width = 44 if header == _FLAT_HEADERS["wkt"] else max(12, 2 * len(header) + 2)
        ws.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    ws.append([_cell(ws, h, font=bold) for h in headers])
    for row in rows:
        ws.append([_cell(ws, v) for v in _flat_row(row)])
    wb.save(out)  # openpyxl takes a path or a binary file object


def _cell(ws: Any, value: Any, font: Font | None = None) -> WriteOnlyCell:
    if isinstance(value, Decimal):
        value = float(value)
    elif isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text, never a formula
    if isinstance(value, date):
        cell.number_format = "yyyy-mm-dd"
    if font is not None:
        cell.font = font
    return cell


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _write_csv(rows: list[dict[str, Any]], out: str | Path | BinaryIO) -> None:
    def write(fh: IO[bytes]) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(_headers())
        writer.writerows(_csv_rows(rows))
        text.flush()
        text.detach()
    _to_target(out, write)


def _csv_rows(rows: list[dict[str, Any]]) -> Iterable[list[str]]:
    for row in rows:
        yield [_csv_text(v) for v in _flat_row(row)]
