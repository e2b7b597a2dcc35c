"""Tile matrix sets (OGC 17-083r4, TMS 2.0) and tile addresses.

Only WebMercatorQuad is offered: it is what deck.gl, MapLibre, QGIS and every XYZ client use, and
PostGIS's ``ST_TileEnvelope`` computes its tiles natively.  The definition (and the JSON document
served at ``/ogc/tileMatrixSets/WebMercatorQuad``) comes from ``morecantile``, so scale
denominators and corner coordinates are the registry's, not our own arithmetic.

Examples
--------
>>> parse_tile("WebMercatorQuad", "10", "421", "853")
TileAddress(tms='WebMercatorQuad', z=10, y=421, x=853)
>>> tile_limits("WebMercatorQuad", (120.15, 30.27, 120.16, 30.28), 10, 10)[0]["minTileCol"]
853
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import morecantile

from spatial.errors import InvalidQuery, NotFound

__all__ = ["SUPPORTED", "TileAddress", "document", "get", "parse_tile", "tile_limits",
           "tile_uri_template"]

WEB_MERCATOR_QUAD = "WebMercatorQuad"
SUPPORTED = (WEB_MERCATOR_QUAD,)


@dataclass(frozen=True)
class TileAddress:
    """One tile: tile matrix set, zoom (tile matrix), row and column."""

    tms: str
    z: int
    y: int
    x: int


@cache
def get(tms_id: str) -> morecantile.TileMatrixSet:
    """The tile matrix set ``tms_id``; :class:`NotFound` for any other name."""
    if tms_id not in SUPPORTED:
        raise NotFound(f"tile matrix set {tms_id!r} is not offered (only {', '.join(SUPPORTED)})")
    return morecantile.tms.get(tms_id)


def _int(name: str, text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise InvalidQuery(f"{name} must be a non-negative integer: {text!r}", parameter=name)
    return int(text)


def parse_tile(tms_id: str, tile_matrix: str, tile_row: str, tile_col: str) -> TileAddress:
    """Validate a ``{tileMatrix}/{tileRow}/{tileCol}`` address (strings, as in the URL).

    :class:`NotFound` for an unknown tile matrix set; :class:`InvalidQuery` (a 400) for a zoom
    outside the set or a row/column outside that zoom's matrix.
    """
    tms = get(tms_id)
    z = _int("tileMatrix", tile_matrix)
    if not tms.minzoom <= z <= tms.maxzoom:
        raise InvalidQuery(f"tileMatrix {z} is outside {tms_id} ({tms.minzoom}–{tms.maxzoom})",
                           parameter="tileMatrix")
    matrix = tms.matrix(z)
    y, x = _int("tileRow", tile_row), _int("tileCol", tile_col)
    if y >= matrix.matrixHeight:
        raise InvalidQuery(f"tileRow {y} is outside tile matrix {z} (0–{matrix.matrixHeight - 1})",
                           parameter="tileRow")
    if x >= matrix.matrixWidth:
        raise InvalidQuery(f"tileCol {x} is outside tile matrix {z} (0–{matrix.matrixWidth - 1})",
                           parameter="tileCol")
    return TileAddress(tms_id, z, y, x)


@cache
def document(tms_id: str) -> dict:
    """The TMS 2.0 JSON definition of ``tms_id``."""
    return get(tms_id).model_dump(mode="json", exclude_none=True)


def tile_limits(tms_id: str, bounds: tuple[float, float, float, float], minzoom: int,
                maxzoom: int) -> list[dict]:
    """``tileMatrixSetLimits`` covering lon/lat ``bounds`` from ``minzoom`` to ``maxzoom``."""
    tms = get(tms_id)
    west, south, east, north = bounds
    out = []
    for z in range(minzoom, maxzoom + 1):
        ul = tms.tile(west, north, z)
        lr = tms.tile(east, south, z)
        out.append({"tileMatrix": str(z), "minTileRow": ul.y, "maxTileRow": lr.y,
                    "minTileCol": ul.x, "maxTileCol": lr.x})
    return out


def tile_uri_template(base: str) -> str:
    """``base`` + the OGC URI template of a tile in the set."""
    return f"{base}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
