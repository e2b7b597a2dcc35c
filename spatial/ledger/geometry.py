"""Footprints from imported geometries (EPSG:4490 lon/lat): repair, reject or estimate from a point.

- A valid Polygon or MultiPolygon is kept as it is (as a MultiPolygon).
- An invalid one is repaired with ``shapely.make_valid`` when the polygonal result has a similar
  area: between ``MIN_AREA_RATIO`` and ``1 / MIN_AREA_RATIO`` of the original's |area| (shoelace,
  so a symmetric bowtie has area 0 and is rejected).  Otherwise the row is rejected.
- Lines and collections are rejected; a point gets an estimated square footprint ``side`` metres
  wide, computed in the CGCS2000 3-degree Gauss-Krüger zone of its longitude.

Examples
--------
>>> from shapely import Point
>>> fp = to_footprint(Point(120.15, 30.28))
>>> fp.estimated, fp.geom.geom_type
(True, 'MultiPolygon')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from spatial.crs import STORAGE_SRID, gk_zone_epsg

MIN_AREA_RATIO = 0.9
ESTIMATED_SIDE_M = 30.0


@dataclass(frozen=True)
class Footprint:
    geom: MultiPolygon
    repaired: bool = False
    estimated: bool = False


@lru_cache(maxsize=32)
def _metric(lon_key: float, lat_key: float) -> tuple[Transformer, Transformer]:
    try:
        target = f"EPSG:{gk_zone_epsg(lon_key)}"
    except ValueError:  # outside China's zones: an equidistant projection centred nearby
        target = f"+proj=aeqd +lat_0={lat_key} +lon_0={lon_key} +ellps=GRS80 +units=m"
    forward = Transformer.from_crs(f"EPSG:{STORAGE_SRID}", target, always_xy=True)
    back = Transformer.from_crs(target, f"EPSG:{STORAGE_SRID}", always_xy=True)
    return forward, back


def estimated_square(lon: float, lat: float, side: float = ESTIMATED_SIDE_M) -> Polygon:
    """A square ``side`` metres wide centred on (lon, lat), in EPSG:4490 degrees."""
    forward, back = _metric(float(round(lon)), float(round(lat)))
    x, y = forward.transform(lon, lat)
    half = side / 2
    square = box(x - half, y - half, x + half, y + half)
    return reproject(square, back)


def reproject(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """``geom`` with its coordinates passed through an ``always_xy`` transformer."""
    def apply(xy: np.ndarray) -> np.ndarray:
        xs, ys = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([xs, ys])
    return shapely.transform(geom, apply)


def _check_degrees(geom: BaseGeometry) -> None:
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValueError("coordinates are not longitude/latitude degrees (is the CRS right?)")


def _polygonal(geom: BaseGeometry) -> MultiPolygon | None:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if geom.geom_type == "GeometryCollection":
        polys: list[Polygon] = []
        for part in geom.geoms:
            sub = _polygonal(part)
            if sub is not None:
                polys.extend(sub.geoms)
        return MultiPolygon(polys) if polys else None
    return None


def to_footprint(geom: BaseGeometry | None) -> Footprint:
    """The MultiPolygon to store for a geometry; ``ValueError`` with the reason to reject it."""
    if geom is None or geom.is_empty:
        raise ValueError("missing geometry (a polygon, a point, lon/lat or WKT is required)")
    geom = shapely.force_2d(geom)
    _check_degrees(geom)
    kind = geom.geom_type
    if kind == "MultiPoint" and len(geom.geoms) == 1:
        geom, kind = geom.geoms[0], "Point"
    if kind == "Point":
        assert isinstance(geom, Point)
        return Footprint(MultiPolygon([estimated_square(geom.x, geom.y)]), estimated=True)
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"a {kind} is not a footprint; expected a Polygon or MultiPolygon")
    if geom.is_valid:
        multi = _polygonal(geom)
        assert multi is not None
        return Footprint(multi)
    original = abs(geom.area)
    fixed = _polygonal(shapely.make_valid(geom))
    reason = shapely.is_valid_reason(geom)
    if fixed is None or fixed.is_empty or original == 0:
        raise ValueError(f"invalid polygon ({reason}) that cannot be repaired into a similar "
                         "polygon; fix it in the source")
    ratio = fixed.area / original
    if not (MIN_AREA_RATIO <= ratio <= 1 / MIN_AREA_RATIO):
        raise ValueError(f"invalid polygon ({reason}); repairing it would change its area by "
                         f"{abs(ratio - 1):.0%}, so fix it in the source")
    return Footprint(fixed, repaired=True)
