"""Unit conversion from the units, IfcMapConversion.Scale only checked against it."""

from __future__ import annotations

import pytest

from bim.georef import derive_scale


@pytest.mark.parametrize("project_unit, map_unit, scale, expected, warning", [
    (1.0, 1.0, None, 1.0, None),
    (0.001, 1.0, None, 0.001, None),              # omitted Scale with mm: the unit conversion
    (0.001, 1.0, 0.001, 0.001, None),             # Scale that is the unit conversion
    (0.001, 1.0, 1000.0, 0.001, "scale_contradiction"),   # inverted (the GK sample)
    (0.001, 1.0, 1.0, 0.001, None),               # Scale 1 with mm: units implicit
    (1.0, 1.0, 0.9996, 0.9996, None),             # a grid scale factor
    (0.001, 1.0, 0.9996, 0.0009996, None),        # grid factor on top of the units
    (0.3048, 1.0, None, 0.3048, None),            # feet to metres
    (1.0, 1.0, 0.0, 1.0, "scale_invalid"),
    (1.0, 1.0, 25.4, 1.0, "scale_contradiction"),
    (0.001, 0.001, None, 1.0, None),              # a CRS in millimetres
])
def test_derive_scale(project_unit, map_unit, scale, expected, warning):
    result = derive_scale(project_unit_m=project_unit, map_unit_m=map_unit, scale=scale)
    assert result.scale == pytest.approx(expected)
    assert [w["code"] for w in result.warnings] == ([warning] if warning else [])
    if warning == "scale_contradiction" and scale == 1000.0:
        assert "inverted" in result.warnings[0]["message"]
