"""Coordinate reference systems SiteWatch speaks (OGC API Features Part 2).

Storage is CGCS2000 geographic, EPSG:4490, with PostGIS's lon/lat order.  Output and ``bbox-crs``
accept CRS84 (lon,lat), EPSG:4326 and EPSG:4490 (lat,lon, as EPSG defines them) and the CGCS2000
3-degree Gauss-Krüger zones EPSG:4534–4554 (northing,easting).  PostGIS always works easting
first, so an axis swap is all that separates the authority's order from PostGIS's.

Examples
--------
>>> gk_zone_epsg(120.15)  # Hangzhou
4549
>>> parse_crs("http://www.opengis.net/def/crs/EPSG/0/4490").swap_axes
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spatial.errors import InvalidQuery

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STORAGE_SRID = 4490
STORAGE_CRS = "http://www.opengis.net/def/crs/EPSG/0/4490"
GK_ZONES = range(4534, 4555)  # CGCS2000 / 3-degree Gauss-Kruger CM 75E … 135E

_EPSG_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)$")
_EPSG_CURIE = re.compile(r"^\[?EPSG:(\d+)\]?$", re.IGNORECASE)


@dataclass(frozen=True)
class Crs:
    """One supported output CRS."""

    uri: str
    srid: int            # PostGIS SRID to ST_Transform to
    swap_axes: bool      # authority order is not PostGIS's x=east, y=north
    decimals: int        # coordinate precision in output (≈1 cm in degrees, 1 mm in metres)

    @property
    def is_geographic(self) -> bool:
        return self.srid in (4326, 4490)


def _epsg(code: int) -> Crs:
    if code in (4326, 4490):
        return Crs(f"http://www.opengis.net/def/crs/EPSG/0/{code}", code, True, 7)
    if code in GK_ZONES:
        return Crs(f"http://www.opengis.net/def/crs/EPSG/0/{code}", code, True, 3)
    raise InvalidQuery(f"CRS EPSG:{code} is not supported", parameter="crs")


def supported_uris() -> list[str]:
    """The list for a collection's ``crs`` member, storage CRS first after CRS84."""
    return [CRS84, STORAGE_CRS, "http://www.opengis.net/def/crs/EPSG/0/4326"] + [
        f"http://www.opengis.net/def/crs/EPSG/0/{c}" for c in GK_ZONES
    ]


def parse_crs(value: str | None, *, parameter: str = "crs") -> Crs:
    """Parse a CRS URI (or ``EPSG:n`` CURIE) into a :class:`Crs`; CRS84 when empty."""
    if value is None or value == "" or value in (CRS84, "[OGC:CRS84]", "OGC:CRS84"):
        return Crs(CRS84, STORAGE_SRID, False, 7)
    match = _EPSG_URI.match(value) or _EPSG_CURIE.match(value)
    if not match:
        raise InvalidQuery(f"unsupported {parameter}: {value!r}", parameter=parameter)
    try:
        return _epsg(int(match.group(1)))
    except InvalidQuery as exc:
        raise InvalidQuery(f"unsupported {parameter}: {value!r}", parameter=parameter) from exc


def gk_zone_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM on the axis) for a longitude."""
    central = 3 * round(lon / 3)
    code = 4534 + (central - 75) // 3
    if code not in GK_ZONES:
        raise ValueError(f"longitude {lon} is outside China's 3-degree zones (75E–135E)")
    return int(code)
