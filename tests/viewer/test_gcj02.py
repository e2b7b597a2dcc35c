"""The Python twin of the page's WGS84 → GCJ-02 shift, against published reference values."""

from __future__ import annotations

import numpy as np

from viewer.gcj02 import out_of_china, wgs84_to_gcj02


def test_published_reference_beijing():
    # coordtransform's README (and the eviltransform suites): Tiananmen, WGS84 → GCJ-02.
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert abs(float(lon) - 116.41024449916938) < 1e-12
    assert abs(float(lat) - 39.91640428150164) < 1e-12


def test_offset_size_in_hangzhou_is_hundreds_of_metres():
    lon, lat = wgs84_to_gcj02(120.15, 30.28)
    dx = (float(lon) - 120.15) * 111320 * np.cos(np.radians(30.28))
    dy = (float(lat) - 30.28) * 110540
    assert 100 < np.hypot(dx, dy) < 700          # DOMAIN.md: offsets of 100–700 m


def test_outside_china_unchanged_and_vectorised():
    lon, lat = wgs84_to_gcj02([2.35, 120.15, -74.0], [48.85, 30.28, 40.7])
    assert out_of_china([2.35, 120.15, -74.0], [48.85, 30.28, 40.7]).tolist() == [True, False, True]
    assert lon[0] == 2.35 and lat[0] == 48.85 and lon[2] == -74.0
    assert lon[1] != 120.15
