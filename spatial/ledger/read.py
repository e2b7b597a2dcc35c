"""Read a ledger file into raw records keyed by canonical field names (see ``columns``).

Vector files (GeoPackage, Shapefile or a zipped one, GeoJSON) are read with geopandas/pyogrio and
reprojected to EPSG:4490; a file without a CRS is taken as CGCS2000 lon/lat with a warning.
Row numbers are 1-based feature numbers.  XLSX and CSV are read with pandas; their row numbers are
the spreadsheet's (header = row 1, first data row = 2), blank rows are skipped but counted, and CSV
is decoded as UTF-8 (with or without BOM), falling back to GB18030.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError
from shapely.geometry.base import BaseGeometry

from spatial.crs import STORAGE_SRID
from spatial.errors import ValidationFailed
from spatial.ledger import columns
from spatial.ledger.values import is_empty

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".gpkg", ".shp", ".zip", ".shz", ".geojson", ".json")
TABLE_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".txt")
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass
class RawTable:
    """What a file holds, before validation."""

    kind: str                                   # "vector" or "table"
    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    geometries: list[BaseGeometry | None] = field(default_factory=list)  # vector files only
    fields: set[str] = field(default_factory=set)   # canonical fields with a column in the file
    warnings: list[str] = field(default_factory=list)

    @property
    def header_row(self) -> int:
        """The row number file-level problems (a missing column) are reported on."""
        return 1 if self.kind == "table" else 0


def _fail(reason: str, field_name: str = "file") -> ValidationFailed:
    return ValidationFailed(reason, [{"row": 0, "field": field_name, "reason": reason}])


def read_table(path: str | Path, *, layer: str | None = None,
               sheet: str | int | None = None) -> RawTable:
    """Read ``path``; ``ValidationFailed`` (row 0) when it cannot be read at all."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path, layer)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet)
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    raise _fail(f"unsupported file type {suffix or '(none)'}; expected GeoPackage, Shapefile, "
                "GeoJSON, XLSX or CSV")


def _map_columns(headers: list[Any], out: RawTable, skip: tuple[str, ...] = ()) -> dict[Any, str]:
    """header -> canonical field for the columns we use; warnings for the others."""
    mapping: dict[Any, str] = {}
    unknown = []
    for header in headers:
        if header in skip:
            continue
        name = columns.field_for_header(header)
        if name is None:
            if not str(header).startswith("Unnamed:"):
                unknown.append(str(header))
            continue
        if name == "":
            continue
        if name in out.fields:
            out.warnings.append(f"column {header!r} repeats field {name!r}; the first one is used")
            continue
        mapping[header] = name
        out.fields.add(name)
    if unknown:
        out.warnings.append("ignored columns: " + ", ".join(unknown))
    return mapping


def _records(frame: pd.DataFrame, mapping: dict[Any, str]) -> list[dict[str, Any]]:
    cols = list(mapping)
    names = [mapping[c] for c in cols]
    return [dict(zip(names, values)) for values in frame[cols].itertuples(index=False, name=None)]


def _read_vector(path: Path, layer: str | None) -> RawTable:
    out = RawTable(kind="vector")
    try:
        if layer is None:
            layers = pyogrio.list_layers(path)
            if len(layers) > 1:
                layer = str(layers[0][0])
                out.warnings.append(f"the file has {len(layers)} layers; read the first, {layer!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except (DataSourceError, DataLayerError) as exc:
        raise _fail(f"cannot read {path.name}: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        frame = gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=None)
    has_geometry = bool(frame.geometry.notna().any())
    if frame.crs is None and has_geometry:
        out.warnings.append(f"{path.name} has no CRS; its coordinates are taken as CGCS2000 "
                            "(EPSG:4490) longitude/latitude")
        frame = frame.set_crs(STORAGE_SRID, allow_override=True)
    elif frame.crs is None:
        frame = frame.set_crs(STORAGE_SRID, allow_override=True)
    elif frame.crs.to_epsg() != STORAGE_SRID:
        logger.info("reprojecting %s from %s to EPSG:%s", path.name, frame.crs, STORAGE_SRID)
        frame = frame.to_crs(STORAGE_SRID)
    geometry_name = frame.geometry.name
    mapping = _map_columns(list(frame.columns), out, skip=(geometry_name,))
    out.records = _records(frame, mapping)
    out.rows = list(range(1, len(frame) + 1))
    out.geometries = [None if g is None or g.is_empty else g for g in frame.geometry]
    return out


def _read_xlsx(path: Path, sheet: str | int | None) -> RawTable:
    try:
        frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=object,
                              engine="openpyxl")
    except (ValueError, KeyError, OSError) as exc:
        raise _fail(f"cannot read {path.name}: {exc}") from exc
    except Exception as exc:  # openpyxl raises zipfile/XML errors for non-XLSX content
        raise _fail(f"{path.name} is not a readable XLSX workbook ({type(exc).__name__})") from exc
    return _table(frame)


def _read_csv(path: Path) -> RawTable:
    last: Exception | None = None
    for encoding in CSV_ENCODINGS:
        try:
            frame = pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False,
                                skip_blank_lines=False)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise _fail(f"cannot read {path.name} as CSV: {exc}") from exc
        out = _table(frame)
        if encoding != CSV_ENCODINGS[0]:
            logger.info("%s decoded as %s", path.name, encoding)
        return out
    raise _fail(f"{path.name} is neither UTF-8 nor GB18030 text ({last})")


def _table(frame: pd.DataFrame) -> RawTable:
    out = RawTable(kind="table")
    mapping = _map_columns(list(frame.columns), out)
    records = _records(frame, mapping)
    for number, record in enumerate(records, start=2):
        if all(is_empty(v) for v in record.values()):
            continue  # a blank row: skipped, still counted in the numbering
        out.records.append(record)
        out.rows.append(number)
    out.geometries = [None] * len(out.records)
    return out
