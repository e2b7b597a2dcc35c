"""Read a model's map conversion: IfcMapConversion + IfcProjectedCRS (IFC4, IFC4X3), or the
IFC2X3 convention of property sets ePSet_MapConversion + ePSet_ProjectedCRS (buildingSMART's
"User Guide for Geo-referencing in IFC"), on IfcProject or IfcSite."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import ifcopenshell
import ifcopenshell.util.element
import ifcopenshell.util.unit
import pyproj

__all__ = ["MapConversion", "read_map_conversion"]

_EPSG = re.compile(r"(?:EPSG|epsg)\s*:+\s*(\d{4,6})")
_UNIT_NAMES = {"METRE": 1.0, "METER": 1.0, "MILLIMETRE": 0.001, "MILLIMETER": 0.001,
               "CENTIMETRE": 0.01, "CENTIMETER": 0.01, "FOOT": 0.3048,
               "US SURVEY FOOT": 1200 / 3937, "US_SURVEY_FOOT": 1200 / 3937}


@dataclass(frozen=True)
class MapConversion:
    method: str                      # map_conversion | epset_map_conversion
    crs: str | None                  # "EPSG:25832" when resolvable, else None
    crs_name: str | None             # as written in the file
    map_unit_m: float | None         # None: MapUnit not stated (metre assumed)
    eastings: float
    northings: float
    height: float
    x_axis_abscissa: float
    x_axis_ordinate: float
    scale: float | None              # None: omitted
    warnings: list[dict] = field(default_factory=list)


def _resolve_crs(name: str | None) -> tuple[str | None, list[dict]]:
    if not name:
        return None, [{"code": "crs_missing", "message": "the map conversion names no CRS"}]
    match = _EPSG.search(name) or (re.fullmatch(r"\s*(\d{4,6})\s*", name))
    candidate = f"EPSG:{match.group(1)}" if match else name
    try:
        crs = pyproj.CRS.from_user_input(candidate)
    except pyproj.exceptions.CRSError:
        return None, [{"code": "crs_unknown", "message": f"the CRS {name!r} is not known to PROJ"}]
    if not crs.is_projected:
        return None, [{"code": "crs_not_projected",
                       "message": f"the CRS {name!r} is not a projected CRS"}]
    if match:
        return candidate, []
    epsg = crs.to_epsg(min_confidence=90)   # a name or WKT: identify it (slow, so only here)
    return (f"EPSG:{epsg}" if epsg else crs.to_wkt()), []


def _unit_m(unit: object) -> float | None:
    if unit is None:
        return None
    if isinstance(unit, ifcopenshell.entity_instance):
        return float(ifcopenshell.util.unit.get_unit_scale(unit))
    if isinstance(unit, str):
        return _UNIT_NAMES.get(unit.strip().upper().replace("-", " "))
    return None


def _from_entity(model: ifcopenshell.file) -> MapConversion | None:
    conversions = [c for c in model.by_type("IfcCoordinateOperation")
                   if c.is_a("IfcMapConversion") or c.is_a("IfcRigidOperation")]
    if not conversions:
        return None
    # Prefer the conversion of the 3D model context.
    conversions.sort(key=lambda c: 0 if getattr(c.SourceCRS, "ContextType", None) == "Model" else 1)
    conv = conversions[0]
    target = conv.TargetCRS
    crs, warnings = _resolve_crs(getattr(target, "Name", None))
    map_unit = _unit_m(getattr(target, "MapUnit", None)) if target else None
    if conv.is_a("IfcRigidOperation"):
        def number(v):
            return float(getattr(v, "wrappedValue", v) or 0.0)
        return MapConversion("map_conversion", crs, getattr(target, "Name", None), map_unit,
                             number(conv.FirstCoordinate), number(conv.SecondCoordinate),
                             float(conv.Height or 0.0), 1.0, 0.0, None, warnings)
    scale = float(conv.Scale) if conv.Scale is not None else None
    if conv.is_a("IfcMapConversionScaled") and conv.FactorX:
        if conv.FactorY and abs(conv.FactorX - conv.FactorY) > 1e-9:
            warnings.append({"code": "anisotropic_scale",
                             "message": "FactorX and FactorY differ; FactorX is used for both"})
        scale = (scale or 1.0) * float(conv.FactorX)
    return MapConversion(
        "map_conversion", crs, getattr(target, "Name", None), map_unit,
        float(conv.Eastings or 0.0), float(conv.Northings or 0.0), float(conv.OrthogonalHeight or 0.0),
        float(conv.XAxisAbscissa if conv.XAxisAbscissa is not None else 1.0),
        float(conv.XAxisOrdinate if conv.XAxisOrdinate is not None else 0.0), scale, warnings)


def _from_psets(model: ifcopenshell.file) -> MapConversion | None:
    holders = model.by_type("IfcProject") + model.by_type("IfcSite")
    for holder in holders:
        conv = ifcopenshell.util.element.get_pset(holder, "ePSet_MapConversion")
        if not conv:
            continue
        crs_pset: dict = {}
        for other in holders:
            crs_pset = ifcopenshell.util.element.get_pset(other, "ePSet_ProjectedCRS") or {}
            if crs_pset:
                break
        crs, warnings = _resolve_crs(crs_pset.get("Name"))

        def num(key: str, default: float | None, values: dict = conv) -> float | None:
            value = values.get(key)
            return default if value is None else float(value)

        return MapConversion(
            "epset_map_conversion", crs, crs_pset.get("Name"), _unit_m(crs_pset.get("MapUnit")),
            num("Eastings", 0.0), num("Northings", 0.0), num("OrthogonalHeight", 0.0),  # type: ignore[arg-type]
            num("XAxisAbscissa", 1.0), num("XAxisOrdinate", 0.0), num("Scale", None),  # type: ignore[arg-type]
            warnings)
    return None


def read_map_conversion(model: ifcopenshell.file) -> MapConversion | None:
    """The model's map conversion, or None when it has none (``crs`` is None when unusable)."""
    found = _from_entity(model) if model.schema != "IFC2X3" else None
    return found or _from_psets(model)
