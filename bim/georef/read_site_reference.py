"""Read IfcSite's RefLatitude/RefLongitude/RefElevation and the context's TrueNorth."""

from __future__ import annotations

import math
from dataclasses import dataclass

import ifcopenshell
import ifcopenshell.util.placement
import ifcopenshell.util.unit

__all__ = ["SiteReference", "compound_angle", "read_site_reference"]


@dataclass(frozen=True)
class SiteReference:
    latitude: float              # degrees, WGS 84 (taken as CGCS2000)
    longitude: float
    elevation_m: float           # RefElevation in metres (0 when absent)
    true_north_deg: float        # anticlockwise angle from local +Y to true north
    site_origin_m: tuple[float, float, float]   # the site placement's origin, model metres


def compound_angle(value: tuple | list | None) -> float | None:
    """IfcCompoundPlaneAngleMeasure (deg, min, sec[, millionths]) → decimal degrees.

    >>> round(compound_angle((49, 6, 1, 566000)), 6)
    49.100435
    >>> round(compound_angle((-8, -26, -1)), 6)
    -8.433611
    """
    if not value:
        return None
    parts = [float(v) for v in value] + [0.0] * (4 - len(value))
    return parts[0] + parts[1] / 60 + parts[2] / 3600 + parts[3] / 3.6e9


def _true_north(model: ifcopenshell.file) -> float:
    contexts = [c for c in model.by_type("IfcGeometricRepresentationContext", include_subtypes=False)
                if c.TrueNorth is not None]
    contexts.sort(key=lambda c: 0 if c.ContextType == "Model" else 1)
    if not contexts:
        return 0.0
    x, y = (list(contexts[0].TrueNorth.DirectionRatios) + [0.0, 0.0])[:2]
    if x == 0 and y == 0:
        return 0.0
    return math.degrees(math.atan2(-x, y))


def _outer_site(model: ifcopenshell.file) -> ifcopenshell.entity_instance | None:
    sites = model.by_type("IfcSite")
    for site in sites:  # the site directly under the project, not a sub-site
        for rel in getattr(site, "Decomposes", None) or []:
            if rel.RelatingObject.is_a("IfcProject"):
                return site
    return sites[0] if sites else None


def read_site_reference(model: ifcopenshell.file) -> SiteReference | None:
    """The site's geographic reference, or None when it has no usable latitude/longitude.

    Latitude and longitude of exactly 0, 0 are treated as unset: exporters write them as a
    placeholder far more often than a building stands in the Gulf of Guinea.
    """
    site = _outer_site(model)
    if site is None:
        return None
    lat, lon = compound_angle(site.RefLatitude), compound_angle(site.RefLongitude)
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    unit = ifcopenshell.util.unit.calculate_unit_scale(model)
    origin = (0.0, 0.0, 0.0)
    if site.ObjectPlacement is not None:
        matrix = ifcopenshell.util.placement.get_local_placement(site.ObjectPlacement)
        origin = tuple(float(v) * unit for v in matrix[:3, 3])  # type: ignore[assignment]
    return SiteReference(lat, lon, float(site.RefElevation or 0.0) * unit, _true_north(model),
                         origin)  # type: ignore[arg-type]
