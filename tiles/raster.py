"""Raster layers of a project (site orthophoto, DEM): registry and PNG tiles with rasterio.

Files are GeoTIFFs, ideally Cloud-Optimised (internal tiles + overviews), in any projected or
geographic CRS, stored under ``$SITEWATCH_DATA/files`` (the table keeps the relative path) or at
an absolute path.  A tile is read by

1. choosing the coarsest overview that is still at least as fine as the tile's ground
   resolution (opened with GDAL's ``OVERVIEW_LEVEL``, so a city-zoom tile never decodes the full
   image);
2. warping exactly the tile's 256 × 256 EPSG:3857 grid from it with a ``WarpedVRT`` whose output
   transform *is* the tile: GDAL reads only the source blocks under the tile (windowed reads,
   COG-friendly, also over ``/vsicurl/``);
3. rendering: an orthophoto keeps its RGB and its mask becomes the alpha; a DEM gets a colour
   ramp over the layer's fixed value range and a hillshade (read with a one-pixel border so that
   neighbouring tiles shade seamlessly).  Pixels without data are transparent.

We read with rasterio directly rather than through ``rio-tiler``: the three steps above are the
whole need, the DEM rendering is ours anyway, and rio-tiler would add six dependencies for them.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import morecantile
import numpy as np
import psycopg
import rasterio
from affine import Affine
from psycopg.rows import dict_row
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_geom

from spatial.errors import InvalidQuery, NotFound
from tiles import render, tms
from tiles.tms import TileAddress

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "RasterLayer", "get", "list_layers", "register", "render_tile", "tile_in_range"]

KINDS = ("orthophoto", "dem")
TILE_SIZE = 256
_HALF_WORLD = 20037508.342789244
_GDAL_ENV = {"GDAL_PAM_ENABLED": "NO", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


@dataclass(frozen=True)
class RasterLayer:
    id: int
    project_code: str
    kind: str
    title: str | None
    path: Path                     # resolved
    crs: str
    width: int
    height: int
    band_count: int
    dtype: str
    resolution: float              # metres per pixel
    nodata: float | None
    min_value: float | None
    max_value: float | None
    captured_on: date | None
    bounds: tuple[float, float, float, float]   # lon/lat (CGCS2000 ≈ CRS84)
    updated_at: datetime

    @property
    def centre_lat(self) -> float:
        return (self.bounds[1] + self.bounds[3]) / 2.0

    def zoom_range(self) -> tuple[int, int]:
        """Tile matrices worth serving: from a few pixels across up to 2 levels of overzoom."""
        mercator_res = self.resolution / math.cos(math.radians(self.centre_lat))
        native = math.log2(2 * _HALF_WORLD / TILE_SIZE / mercator_res)
        return max(0, math.floor(native) - 8), min(24, math.ceil(native) + 2)

    def stat_token(self) -> str:
        """What an ETag must change with: the file as it is now, and the row."""
        st = self.path.stat()
        return f"{self.id}:{st.st_size}:{st.st_mtime_ns}:{self.updated_at.isoformat()}"


def _resolve(path: str, files_root: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else files_root / p


_SELECT = """
SELECT r.id, p.code AS project_code, r.kind, r.title, r.path, r.crs, r.width, r.height,
       r.band_count, r.dtype, r.resolution, r.nodata, r.min_value, r.max_value, r.captured_on,
       ST_XMin(r.footprint) AS x0, ST_YMin(r.footprint) AS y0, ST_XMax(r.footprint) AS x1,
       ST_YMax(r.footprint) AS y1, r.updated_at
FROM sitewatch.project_raster r JOIN sitewatch.project p ON p.id = r.project_id
"""


def _layer(row: dict, files_root: Path) -> RasterLayer:
    return RasterLayer(
        id=row["id"], project_code=row["project_code"], kind=row["kind"], title=row["title"],
        path=_resolve(row["path"], files_root), crs=row["crs"], width=row["width"],
        height=row["height"], band_count=row["band_count"], dtype=row["dtype"],
        resolution=row["resolution"], nodata=row["nodata"], min_value=row["min_value"],
        max_value=row["max_value"], captured_on=row["captured_on"],
        bounds=(row["x0"], row["y0"], row["x1"], row["y1"]), updated_at=row["updated_at"],
    )


def get(conn: psycopg.Connection, raster_id: int, files_root: Path) -> RasterLayer:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT + " WHERE r.id = %s", (raster_id,), prepare=True).fetchone()
    if row is None:
        raise NotFound(f"raster {raster_id} not found")
    return _layer(row, files_root)


def list_layers(conn: psycopg.Connection, files_root: Path, *,
                project_code: str | None = None) -> list[RasterLayer]:
    query = _SELECT + (" WHERE p.code = %s" if project_code else "") + " ORDER BY p.code, r.id"
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (project_code,) if project_code else ()).fetchall()
    return [_layer(r, files_root) for r in rows]


def _value_range(src: rasterio.DatasetReader) -> tuple[float | None, float | None]:
    """Min and max of band 1 over valid pixels, from an overview when the image is large."""
    factors = src.overviews(1)
    level = next((i for i, f in enumerate(factors) if max(src.width, src.height) / f <= 2048),
                 None)
    if level is None or max(src.width, src.height) <= 2048:
        data = src.read(1, masked=True)
    else:
        with rasterio.open(src.name, overview_level=level) as ovr:
            data = ovr.read(1, masked=True)
    if data.count() == 0:
        return None, None
    return float(data.min()), float(data.max())


def register(conn: psycopg.Connection, project_code: str, path: Path, *, kind: str,
             files_root: Path, title: str | None = None,
             captured_on: date | None = None) -> int:
    """Attach a GeoTIFF to a project (insert or refresh by project and path); return its id.

    ``path`` under ``files_root`` is stored relative to it.  The file must have a CRS in
    metres (a projected CRS) or degrees, and a geotransform.
    """
    if kind not in KINDS:
        raise InvalidQuery(f"kind must be one of {', '.join(KINDS)}", parameter="kind")
    path = Path(path).resolve()
    try:
        stored = str(path.relative_to(files_root.resolve()))
    except ValueError:
        stored = str(path)
    with rasterio.Env(**_GDAL_ENV), rasterio.open(path) as src:
        if src.crs is None or src.transform.is_identity:
            raise InvalidQuery(f"{path.name} is not georeferenced", parameter="file")
        x0, y0, x1, y1 = src.bounds
        ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        dense = [(xa + (xb - xa) * i / 8, ya + (yb - ya) * i / 8)
                 for (xa, ya), (xb, yb) in zip(ring, ring[1:]) for i in range(8)] + [ring[0]]
        footprint = transform_geom(src.crs, "EPSG:4490", {"type": "Polygon",
                                                          "coordinates": [dense]})
        metres = src.crs.linear_units_factor[1] if src.crs.is_projected else 111_320.0
        resolution = abs(src.transform.a) * metres
        low, high = _value_range(src) if kind == "dem" else (None, None)
        crs = src.crs.to_string()
        meta = (src.width, src.height, src.count, src.dtypes[0], src.nodata)
    st = path.stat()
    row = conn.execute(
        """
        INSERT INTO sitewatch.project_raster AS r (project_id, kind, title, path, crs, width,
            height, band_count, dtype, resolution, nodata, min_value, max_value, captured_on,
            file_size, file_mtime, footprint)
        SELECT p.id, %(kind)s, %(title)s, %(path)s, %(crs)s, %(w)s, %(h)s, %(n)s, %(dtype)s,
               %(res)s, %(nodata)s, %(low)s, %(high)s, %(captured)s, %(size)s, %(mtime)s,
               ST_SetSRID(ST_GeomFromGeoJSON(%(geom)s), 4490)
        FROM sitewatch.project p WHERE p.code = %(code)s
        ON CONFLICT (project_id, path) DO UPDATE SET kind = EXCLUDED.kind,
            title = EXCLUDED.title, crs = EXCLUDED.crs, width = EXCLUDED.width,
            height = EXCLUDED.height, band_count = EXCLUDED.band_count, dtype = EXCLUDED.dtype,
            resolution = EXCLUDED.resolution, nodata = EXCLUDED.nodata,
            min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value,
            captured_on = EXCLUDED.captured_on, file_size = EXCLUDED.file_size,
            file_mtime = EXCLUDED.file_mtime, footprint = EXCLUDED.footprint,
            updated_at = clock_timestamp()
        RETURNING r.id
        """,
        {"kind": kind, "title": title, "path": stored, "crs": crs, "w": meta[0], "h": meta[1],
         "n": meta[2], "dtype": meta[3], "res": resolution, "nodata": meta[4], "low": low,
         "high": high, "captured": captured_on, "size": st.st_size,
         "mtime": datetime.fromtimestamp(st.st_mtime, timezone.utc),
         "geom": json.dumps(footprint), "code": project_code},
    ).fetchone()
    if row is None:
        raise NotFound(f"project {project_code!r} not found")
    return int(row[0])


def tile_in_range(layer: RasterLayer, tile: TileAddress) -> bool:
    """Whether ``tile`` lies in the layer's tileMatrixSetLimits (else: 404)."""
    lo, hi = layer.zoom_range()
    if not lo <= tile.z <= hi:
        return False
    (limits,) = tms.tile_limits(tile.tms, layer.bounds, tile.z, tile.z)
    return (limits["minTileRow"] <= tile.y <= limits["maxTileRow"]
            and limits["minTileCol"] <= tile.x <= limits["maxTileCol"])


def _overview_level(src: rasterio.DatasetReader, ground_res: float, layer: RasterLayer) -> int | None:
    """The coarsest overview at least as fine as ``ground_res`` (None: full resolution)."""
    best = None
    for i, factor in enumerate(src.overviews(1)):
        if layer.resolution * factor <= ground_res:
            best = i
    return best


def _read(layer: RasterLayer, tile: TileAddress, border: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Bands and validity mask on the tile's grid (plus ``border`` pixels each side), and the
    ground size of a pixel in metres."""
    t = tms.get(tile.tms)
    left, bottom, right, top = t.xy_bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    cell = (right - left) / TILE_SIZE
    size = TILE_SIZE + 2 * border
    transform = Affine(cell, 0.0, left - border * cell, 0.0, -cell, top + border * cell)
    ground = cell * math.cos(math.radians(layer.centre_lat))
    with rasterio.Env(**_GDAL_ENV):
        with rasterio.open(layer.path) as full:
            level = _overview_level(full, ground, layer)
        options = {} if level is None else {"overview_level": level}
        with rasterio.open(layer.path, **options) as src:
            has_alpha = any(ci.name == "alpha" for ci in src.colorinterp)
            with WarpedVRT(src, crs="EPSG:3857", transform=transform, width=size, height=size,
                           resampling=Resampling.bilinear,
                           add_alpha=src.nodata is None and not has_alpha) as vrt:
                bands = [i + 1 for i, ci in enumerate(vrt.colorinterp) if ci.name != "alpha"]
                data = vrt.read(bands)
                mask = vrt.dataset_mask() > 0
    return data, mask, ground


def render_tile(layer: RasterLayer, tile: TileAddress) -> bytes:
    """The PNG of ``tile``; transparent where the layer has no data."""
    if layer.kind == "dem":
        data, mask, ground = _read(layer, tile, border=1)
        low = layer.min_value if layer.min_value is not None else float(np.min(data[0]))
        high = layer.max_value if layer.max_value is not None else float(np.max(data[0]))
        rgba = render.dem_rgba(data[0], mask, ground, low, high)
    else:
        data, mask, _ = _read(layer, tile, border=0)
        if data.dtype != np.uint8:
            data = np.clip(data, 0, 255).astype("uint8")
        rgba = render.rgb_rgba(data, mask)
    return render.encode_png(rgba)


def files_root_of(data_dir: Path | str) -> Path:
    """``$SITEWATCH_DATA/files``: where uploaded and generated files live."""
    return Path(os.fspath(data_dir)).expanduser().resolve() / "files"
