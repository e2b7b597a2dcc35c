"""A placement set by hand: the model's local origin at an anchor, turned by a rotation."""

from __future__ import annotations

import math

import pyproj

from bim.georef.placement import Placement, local_frame

__all__ = ["make_manual_placement"]


def make_manual_placement(*, anchor: dict, rotation_deg: float = 0.0,
                          height: float = 0.0) -> Placement:
    """``anchor`` is ``{"lon", "lat"}`` (CGCS2000) or ``{"e", "n", "epsg"}`` (a projected CRS).

    ``rotation_deg`` is the anticlockwise angle from grid east to the model's local +X axis
    (IfcMapConversion's convention); with a lon/lat anchor, from true east.

    >>> make_manual_placement(anchor={"lon": 120.15, "lat": 30.28}).origin_lonlat
    (120.15, 30.28)
    """
    if not math.isfinite(rotation_deg):
        raise ValueError("rotation must be a finite number of degrees")
    if "lon" in anchor or "lat" in anchor:
        lon, lat = float(anchor["lon"]), float(anchor["lat"])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("anchor lon/lat out of range")
        return Placement("manual", local_frame(lon, lat), 0.0, 0.0, height, rotation_deg, 1.0)
    e, n, epsg = float(anchor["e"]), float(anchor["n"]), int(anchor["epsg"])
    try:
        crs = pyproj.CRS.from_epsg(epsg)
    except pyproj.exceptions.CRSError as exc:
        raise ValueError(f"EPSG:{epsg} is not a known CRS") from exc
    if not crs.is_projected:
        raise ValueError(f"EPSG:{epsg} is not a projected CRS (give lon/lat instead)")
    unit = crs.axis_info[0].unit_conversion_factor or 1.0
    return Placement("manual", f"EPSG:{epsg}", e, n, height, rotation_deg, 1.0 / unit)
