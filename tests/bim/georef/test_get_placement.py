"""Placements read from in-memory models of each schema; expected places computed with pyproj."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest

from bim.georef import (
    auto_get_placement,
    make_manual_placement,
    read_map_conversion,
    read_site_reference,
)
from tests.bim.models import add_map_conversion, make_model

GEOD = pyproj.Geod(ellps="GRS80")
E, N = 514432.0, 3351162.0          # Hangzhou in EPSG:4549 (DOMAIN.md)


def metres(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def gk(e: float, n: float) -> tuple[float, float]:
    return pyproj.Transformer.from_crs(4549, 4490, always_xy=True).transform(e, n)


@pytest.mark.parametrize("schema", ["IFC2X3", "IFC4", "IFC4X3_ADD2"])
@pytest.mark.parametrize("prefix, scale", [(None, None), ("MILLI", None), ("MILLI", 0.001),
                                           ("MILLI", 1000.0)])
def test_map_conversion_every_schema_and_unit(schema, prefix, scale):
    model = make_model(schema, prefix=prefix)
    # Local +X points north (abscissa 0, ordinate 1): a 90° anticlockwise turn.
    add_map_conversion(model, epsg=4549, eastings=E, northings=N, scale=scale,
                       abscissa=0.0, ordinate=1.0)
    conv = read_map_conversion(model)
    assert conv.method == ("epset_map_conversion" if schema == "IFC2X3" else "map_conversion")
    placement = auto_get_placement(model)
    assert placement.crs == "EPSG:4549"
    assert placement.rotation_deg == pytest.approx(90.0)
    assert placement.scale == pytest.approx(1.0)      # one model metre is one map metre
    assert metres(placement.origin_lonlat, gk(E, N)) < 0.01
    # 10 model metres along +X land 10 m north of the origin.
    lon, lat = placement.to_lonlat(np.array([[10.0, 0.0]]))[0]
    assert metres((lon, lat), gk(E, N + 10)) < 0.01
    codes = [w["code"] for w in placement.warnings]
    assert codes == (["scale_contradiction"] if scale == 1000.0 else [])


def test_site_reference_with_true_north():
    model = make_model("IFC4")
    site = model.by_type("IfcSite")[0]
    site.RefLatitude, site.RefLongitude, site.RefElevation = (30, 16, 48, 0), (120, 9, 0, 0), 7.5
    context = [c for c in model.by_type("IfcGeometricRepresentationContext", False)][0]
    angle = math.radians(30)   # true north 30° anticlockwise from +Y
    context.TrueNorth = model.createIfcDirection((-math.sin(angle), math.cos(angle)))
    ref = read_site_reference(model)
    assert (ref.latitude, ref.longitude) == pytest.approx((30.28, 120.15))
    assert ref.true_north_deg == pytest.approx(30.0)
    placement = auto_get_placement(model)
    assert placement.method == "site_reference" and placement.height == 7.5
    assert metres(placement.origin_lonlat, (120.15, 30.28)) < 0.01
    # A point 100 m along the true-north direction in model coordinates lies 100 m due north.
    north = np.array([[-100 * math.sin(angle), 100 * math.cos(angle)]])
    lon, lat = placement.to_lonlat(north)[0]
    az, _, dist = GEOD.inv(120.15, 30.28, lon, lat)
    assert dist == pytest.approx(100, abs=0.01) and az == pytest.approx(0, abs=0.01)


def test_zero_latitude_longitude_is_not_a_reference():
    model = make_model("IFC4")
    site = model.by_type("IfcSite")[0]
    site.RefLatitude, site.RefLongitude = (0, 0, 0), (0, 0, 0)
    placement = auto_get_placement(model, fallback_lonlat=(120.15, 30.28))
    assert placement.method == "none"
    assert [w["code"] for w in placement.warnings] == ["no_georeferencing"]
    assert metres(placement.origin_lonlat, (120.15, 30.28)) < 0.01


def test_unknown_crs_falls_back_to_the_site():
    model = make_model("IFC4")
    add_map_conversion(model, epsg=4549, eastings=E, northings=N)
    model.by_type("IfcProjectedCRS")[0].Name = "My Local Grid"
    site = model.by_type("IfcSite")[0]
    site.RefLatitude, site.RefLongitude = (30, 16, 48), (120, 9, 0)
    placement = auto_get_placement(model)
    assert placement.method == "site_reference"
    assert [w["code"] for w in placement.warnings] == ["crs_unknown"]


def test_dhdn_goes_through_a_datum_shift_not_a_ballpark():
    """EPSG:31467 (DHDN) straight to CGCS2000 is a ~100 m ballpark in PROJ; we must not use it."""
    model = make_model("IFC4")
    add_map_conversion(model, epsg=31467, eastings=3458715.92, northings=5439966.65)
    placement = auto_get_placement(model)
    expected = pyproj.Transformer.from_crs(31467, 4326, always_xy=True).transform(
        3458715.92, 5439966.65)
    assert metres(placement.origin_lonlat, expected) < 0.01


def test_manual_placement_anchors():
    p = make_manual_placement(anchor={"e": E, "n": N, "epsg": 4549}, rotation_deg=0)
    assert metres(p.origin_lonlat, gk(E, N)) < 0.01
    with pytest.raises(ValueError):
        make_manual_placement(anchor={"e": 1, "n": 2, "epsg": 4326})
    with pytest.raises(ValueError):
        make_manual_placement(anchor={"lon": 200, "lat": 0})
