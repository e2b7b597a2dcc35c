"""CRS parsing and zone choice, checked against pyproj."""

from __future__ import annotations

import pyproj
import pytest

from spatial.crs import CRS84, GK_ZONES, gk_zone_epsg, parse_crs
from spatial.errors import InvalidQuery


@pytest.mark.parametrize("lon", [75.2, 87.6, 104.07, 116.4, 120.15, 121.47, 126.6, 134.9])
def test_gk_zone_contains_the_longitude(lon: float):
    code = gk_zone_epsg(lon)
    assert code in GK_ZONES
    crs = pyproj.CRS.from_epsg(code)
    central = next(p.value for p in crs.coordinate_operation.params
                   if p.name == "Longitude of natural origin")
    assert abs(central - lon) <= 1.5


def test_hangzhou_lands_where_domain_md_says():
    # DOMAIN.md: Hangzhou (120.15 E, 30.28 N) is E 514432, N 3351162 in EPSG:4549.
    n, e = pyproj.Transformer.from_crs("EPSG:4490", "EPSG:4549").transform(30.28, 120.15)
    assert gk_zone_epsg(120.15) == 4549
    assert (round(e), round(n)) == (514432, 3351162)


def test_axis_order_follows_the_authority():
    assert parse_crs(None).uri == CRS84 and not parse_crs(None).swap_axes
    for code in (4326, 4490, 4549):
        crs = parse_crs(f"http://www.opengis.net/def/crs/EPSG/0/{code}")
        first_axis = pyproj.CRS.from_epsg(code).axis_info[0].direction
        assert crs.swap_axes == (first_axis == "north")


@pytest.mark.parametrize("bad", ["EPSG:3857", "http://www.opengis.net/def/crs/EPSG/0/4533",
                                 "nonsense", "http://example.com/crs/4490"])
def test_unsupported_crs_is_invalid_query(bad: str):
    with pytest.raises(InvalidQuery):
        parse_crs(bad)
