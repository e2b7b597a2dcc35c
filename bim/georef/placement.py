"""Where a model's local frame sits on the map: the :class:`Placement` every other step uses.

A placement maps local model metres (the geometry iterator's world coordinates, in metres) to a
map CRS and from there to CGCS2000 longitude/latitude (EPSG:4490)::

    E = E0 + k · (cos r · (x − x0) − sin r · (y − y0))
    N = N0 + k · (sin r · (x − x0) + cos r · (y − y0))

``r`` is the angle (degrees, anticlockwise) from map grid east to the model's local +X axis (the
convention of IfcMapConversion's XAxisAbscissa/XAxisOrdinate), ``k`` the map units per local
metre, ``(x0, y0)`` the local point that sits at ``(E0, N0)``.

The map CRS is an EPSG projected CRS (IfcMapConversion, a manual E/N anchor) or a local
transverse Mercator frame (GRS80, scale 1) centred on a longitude/latitude (IfcSite reference,
a manual lon/lat anchor).  An EPSG CRS on the CGCS2000 datum goes straight to EPSG:4490; any
other datum goes to WGS 84 with the best transformation PROJ has, which is taken as CGCS2000
(PROJ's own 4326→4490 is a ballpark identity, sub-metre, see DOMAIN.md).  Going straight from
e.g. DHDN to 4490 would be a ballpark *without* datum shift, ~100 m off.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import pyproj

METHODS = ("map_conversion", "epset_map_conversion", "site_reference", "manual", "none")
CGCS2000_DATUM = "China Geodetic Coordinate System 2000"


def local_frame(lon: float, lat: float) -> str:
    """PROJ string of a transverse Mercator frame (metres, true north up) at ``lon, lat``."""
    return (f"+proj=tmerc +lat_0={lat:.10f} +lon_0={lon:.10f} +k=1 +x_0=0 +y_0=0 "
            "+ellps=GRS80 +units=m +no_defs +type=crs")


def _datum(crs: pyproj.CRS) -> str:
    geodetic = crs.geodetic_crs
    return geodetic.datum.name if geodetic is not None and geodetic.datum is not None else ""


@lru_cache(maxsize=64)
def _to_lonlat(crs: str) -> pyproj.Transformer:
    source = pyproj.CRS.from_user_input(crs)
    if crs.startswith("+proj=tmerc"):
        # Our local frame: the inverse projection on its own ellipsoid is the answer.
        return pyproj.Transformer.from_crs(source, "+proj=longlat +ellps=GRS80 +no_defs",
                                           always_xy=True)
    datum = _datum(source)
    target = 4490 if datum == CGCS2000_DATUM else 4326
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


@lru_cache(maxsize=64)
def _from_lonlat(crs: str) -> pyproj.Transformer:
    source = pyproj.CRS.from_user_input(crs)
    if crs.startswith("+proj=tmerc"):
        return pyproj.Transformer.from_crs("+proj=longlat +ellps=GRS80 +no_defs", source,
                                           always_xy=True)
    datum = _datum(source)
    return pyproj.Transformer.from_crs(4490 if datum == CGCS2000_DATUM else 4326, source,
                                       always_xy=True)


def lonlat_to_map(crs: str, lon: float, lat: float) -> tuple[float, float]:
    """CGCS2000 lon/lat → coordinates in ``crs`` (the inverse of a placement's last step)."""
    e, n = _from_lonlat(crs).transform(lon, lat, errcheck=True)
    return float(e), float(n)


@dataclass(frozen=True)
class Placement:
    """How a model's local metres map to the map (see the module docstring)."""

    method: str
    crs: str                       # "EPSG:25832" or a local_frame() PROJ string
    eastings: float                # map position of the local point ``local_origin``
    northings: float
    height: float                  # metres above the vertical datum of that point
    rotation_deg: float            # anticlockwise, grid east → local +X
    scale: float                   # map units per local metre
    local_origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    warnings: tuple[dict, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown placement method {self.method!r}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError("scale must be a positive number")

    def to_map(self, xy: np.ndarray) -> np.ndarray:
        """Local metres (N×2, or N×3: z ignored) → map CRS coordinates (N×2).

        >>> p = Placement("manual", "EPSG:4549", 500000.0, 3350000.0, 0.0, 90.0, 1.0)
        >>> p.to_map(np.array([[1.0, 0.0]])).round(6).tolist()
        [[500000.0, 3350001.0]]
        """
        pts = np.asarray(xy, dtype=np.float64)[:, :2]
        r = math.radians(self.rotation_deg)
        c, s = math.cos(r) * self.scale, math.sin(r) * self.scale
        dx = pts[:, 0] - self.local_origin[0]
        dy = pts[:, 1] - self.local_origin[1]
        return np.column_stack([self.eastings + c * dx - s * dy, self.northings + s * dx + c * dy])

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        """Local metres (N×2 or N×3) → CGCS2000 longitude, latitude (N×2), vectorised."""
        en = self.to_map(xy)
        if len(en) == 0:
            return en
        lon, lat = _to_lonlat(self.crs).transform(en[:, 0], en[:, 1], errcheck=True)
        return np.column_stack([lon, lat])

    @property
    def origin_lonlat(self) -> tuple[float, float]:
        """Longitude, latitude of the local point (0, 0)."""
        lon, lat = self.to_lonlat(np.zeros((1, 2)))[0]
        return float(lon), float(lat)

    @property
    def origin_height(self) -> float:
        """Height of the local point z = 0 (the model's datum)."""
        return self.height - self.local_origin[2] * self.scale

    def as_json(self) -> dict:
        """What ``bim_model.georef`` stores (plain JSON)."""
        out = asdict(self)
        out["local_origin"] = list(self.local_origin)
        out["warnings"] = list(self.warnings)
        out["notes"] = list(self.notes)
        lon, lat = self.origin_lonlat
        out["origin"] = {"lon": lon, "lat": lat, "height": self.origin_height}
        return out

    @classmethod
    def from_json(cls, data: dict) -> Placement:
        keys = ("method", "crs", "eastings", "northings", "height", "rotation_deg", "scale")
        return cls(**{k: data[k] for k in keys},
                   local_origin=tuple(data.get("local_origin") or (0.0, 0.0, 0.0)),  # type: ignore[arg-type]
                   warnings=tuple(data.get("warnings") or ()), notes=tuple(data.get("notes") or ()))
