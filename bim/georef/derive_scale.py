"""The factor from project length units to map units, derived from the units, checked against Scale.

IfcMapConversion.Scale is not to be trusted on its own: ifcopenshell (and the IFC4 text) take an
omitted Scale as 1, which turns millimetre models 1000 times too big when the CRS is in metres,
and some exporters write Scale = 1000 for millimetres, which is the inverse.  The unit conversion
is a fact of the file (project length unit, IfcProjectedCRS.MapUnit); Scale may only add a grid
scale factor near 1 on top of it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# A grid scale factor stays within a few parts in 10 000 of 1 (UTM 0.9996 on the central
# meridian); allow 1 % before calling a value a contradiction.
_TOLERANCE = 0.01


class DerivedScale(NamedTuple):
    scale: float              # project units → map units
    warnings: list[dict]
    notes: list[str]


def derive_scale(*, project_unit_m: float, map_unit_m: float = 1.0,
                 scale: float | None = None) -> DerivedScale:
    """Project-unit → map-unit factor from the units, with ``scale`` (IfcMapConversion.Scale) checked.

    Examples
    --------
    >>> derive_scale(project_unit_m=0.001, scale=None).scale
    0.001
    >>> r = derive_scale(project_unit_m=0.001, scale=1000.0)
    >>> r.scale, r.warnings[0]["code"]
    (0.001, 'scale_contradiction')
    >>> round(derive_scale(project_unit_m=1.0, scale=0.9996).scale, 4)
    0.9996
    """
    expected = project_unit_m / map_unit_m
    units = f"project unit {project_unit_m:g} m, map unit {map_unit_m:g} m"
    if scale is None:
        note = f"Scale omitted: the unit conversion gives {expected:g} ({units})"
        return DerivedScale(expected, [], [note] if expected != 1 else [])
    if not math.isfinite(scale) or scale <= 0:
        return DerivedScale(expected, [{
            "code": "scale_invalid",
            "message": f"IfcMapConversion Scale {scale!r} is not a positive number; "
                       f"using the unit conversion {expected:g} ({units})"}], [])
    if abs(scale / expected - 1) <= _TOLERANCE:
        return DerivedScale(scale, [], [])          # units (and maybe a grid factor) in Scale
    if expected != 1 and abs(scale - 1) <= _TOLERANCE:
        note = (f"Scale {scale:g} read as a grid scale factor on top of the unit conversion "
                f"{expected:g} ({units})")
        return DerivedScale(expected * scale, [], [note])
    inverted = abs(scale * expected - 1) <= _TOLERANCE
    return DerivedScale(expected, [{
        "code": "scale_contradiction",
        "message": f"IfcMapConversion Scale {scale:g} contradicts the units ({units} → "
                   f"{expected:g}){'; it looks inverted' if inverted else ''}; "
                   f"using {expected:g}"}], [])
