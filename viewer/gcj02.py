"""WGS84 / CGCS2000 → GCJ-02, for drawing our layers on AMap or Tencent basemaps.

The page does this shift in JavaScript (``static/sw-core.js``, ``SW.gcj02``); this module is its
twin, used by the tests to check the browser against known values.  Both implement the widely
published formula (Krasovsky ellipsoid constants, the two polynomial + sine series) that
coordtransform, eviltransform and the map vendors' own SDKs agree on to the last digit.

Display only: SiteWatch stores and serves CGCS2000 (≈ WGS84 at this precision, see DOMAIN.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["out_of_china", "wgs84_to_gcj02"]

_A = 6378245.0                   # Krasovsky 1940 semi-major axis, as used by GCJ-02
_EE = 0.00669342162296594323     # its first eccentricity squared


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a point lies outside the rough China box, where GCJ-02 leaves it unchanged.

    Examples
    --------
    >>> out_of_china([120.15, 2.35], [30.28, 48.85]).tolist()
    [False, True]
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _d_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _d_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 (or CGCS2000) longitudes and latitudes to GCJ-02; array in, arrays out.

    Points outside China are returned unchanged.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
    >>> round(float(lon), 10), round(float(lat), 10)
    (116.4102444992, 39.9164042815)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    x, y = lon - 105.0, lat - 35.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (_d_lat(x, y) * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (_d_lon(x, y) * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + d_lon), np.where(outside, lat, lat + d_lat)
