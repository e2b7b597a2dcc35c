"""Georeferencing: where a model's local frame lands on the map (EPSG:4490)."""

from bim.georef.derive_scale import DerivedScale, derive_scale
from bim.georef.get_placement import auto_get_placement, get_placement
from bim.georef.make_manual_placement import make_manual_placement
from bim.georef.placement import Placement, local_frame, lonlat_to_map
from bim.georef.read_map_conversion import MapConversion, read_map_conversion
from bim.georef.read_site_reference import SiteReference, compound_angle, read_site_reference

__all__ = [
    "DerivedScale", "MapConversion", "Placement", "SiteReference", "auto_get_placement",
    "compound_angle", "derive_scale", "get_placement", "local_frame", "lonlat_to_map",
    "make_manual_placement", "read_map_conversion", "read_site_reference",
]
