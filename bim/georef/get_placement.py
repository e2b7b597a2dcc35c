"""Choose and build a model's placement: map conversion, else site reference, else none.

``get_placement`` is pure (it takes what was read from the file); ``auto_get_placement`` reads
those parameters from the model, as ``ifcopenshell.util.geolocation.auto_xyz2enh`` does.
"""

from __future__ import annotations

import math

import ifcopenshell
import ifcopenshell.util.unit
import numpy as np

from bim.georef.derive_scale import derive_scale
from bim.georef.placement import Placement, local_frame
from bim.georef.read_map_conversion import MapConversion, read_map_conversion
from bim.georef.read_site_reference import SiteReference, read_site_reference

__all__ = ["auto_get_placement", "get_placement"]

# Where a map conversion and the site's latitude/longitude may disagree before we say so.
_AGREEMENT_M = 100.0


def _from_conversion(conv: MapConversion, project_unit_m: float) -> Placement:
    map_unit = conv.map_unit_m if conv.map_unit_m else 1.0
    derived = derive_scale(project_unit_m=project_unit_m, map_unit_m=map_unit, scale=conv.scale)
    notes = list(derived.notes)
    if conv.map_unit_m is None:
        notes.append("IfcProjectedCRS has no MapUnit: metre assumed")
    rotation = math.degrees(math.atan2(conv.x_axis_ordinate, conv.x_axis_abscissa))
    return Placement(
        method=conv.method, crs=conv.crs or "", eastings=conv.eastings, northings=conv.northings,
        height=conv.height * map_unit, rotation_deg=rotation,
        scale=derived.scale / project_unit_m,   # map units per local metre
        warnings=tuple(conv.warnings + derived.warnings), notes=tuple(notes))


def _from_site(site: SiteReference, *, warnings: list[dict], notes: list[str]) -> Placement:
    return Placement(
        method="site_reference", crs=local_frame(site.longitude, site.latitude),
        eastings=0.0, northings=0.0, height=site.elevation_m, rotation_deg=-site.true_north_deg,
        scale=1.0, local_origin=site.site_origin_m, warnings=tuple(warnings), notes=tuple(notes))


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    import pyproj

    return float(pyproj.Geod(ellps="GRS80").inv(lon1, lat1, lon2, lat2)[2])


def get_placement(*, conversion: MapConversion | None = None, site: SiteReference | None = None,
                  project_unit_m: float = 1.0,
                  fallback_lonlat: tuple[float, float] | None = None) -> Placement:
    """The placement to use, by the rules:

    1. a map conversion with a CRS PROJ knows (scale derived from the units, see
       :func:`derive_scale`); a site latitude/longitude that disagrees by more than 100 m is
       reported, not used;
    2. else the site reference: a local transverse Mercator frame at RefLatitude/RefLongitude,
       rotated by TrueNorth, the site's placement origin at the reference point;
    3. else method ``none``: the model's origin at ``fallback_lonlat`` (the project's footprint)
       with a ``no_georeferencing`` warning, so it can be seen and placed by hand.
    """
    warnings: list[dict] = []
    notes: list[str] = []
    if conversion is not None and conversion.crs:
        placement = _from_conversion(conversion, project_unit_m)
        if site is not None:
            lon, lat = placement.to_lonlat(np.array([site.site_origin_m[:2]]))[0]
            gap = _distance_m(lon, lat, site.longitude, site.latitude)
            if gap > _AGREEMENT_M:
                placement = _with(placement, warnings=[{
                    "code": "site_reference_disagrees", "distance_m": round(gap, 1),
                    "message": f"IfcSite RefLatitude/RefLongitude lie {gap:,.0f} m from where the "
                               "map conversion puts the site; the map conversion is used"}])
        return placement
    if conversion is not None:
        warnings += conversion.warnings
        notes.append("the map conversion could not be used; falling back to the site reference")
    if site is not None:
        return _from_site(site, warnings=warnings, notes=notes)
    lon, lat = fallback_lonlat if fallback_lonlat else (0.0, 0.0)
    warnings.append({
        "code": "no_georeferencing",
        "message": "the model has no IfcMapConversion, ePSet_MapConversion or IfcSite "
                   "latitude/longitude; it is placed provisionally at the project's footprint "
                   "(north up) and needs a manual placement"})
    return Placement(method="none", crs=local_frame(lon, lat), eastings=0.0, northings=0.0,
                     height=0.0, rotation_deg=0.0, scale=1.0, warnings=tuple(warnings),
                     notes=tuple(notes))


def _with(placement: Placement, *, warnings: list[dict]) -> Placement:
    from dataclasses import replace

    return replace(placement, warnings=placement.warnings + tuple(warnings))


def auto_get_placement(model: ifcopenshell.file, *,
                       fallback_lonlat: tuple[float, float] | None = None) -> Placement:
    """:func:`get_placement` with its parameters read from ``model``."""
    return get_placement(conversion=read_map_conversion(model), site=read_site_reference(model),
                         project_unit_m=float(ifcopenshell.util.unit.calculate_unit_scale(model)),
                         fallback_lonlat=fallback_lonlat)
