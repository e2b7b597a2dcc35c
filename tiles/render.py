"""Pixels to pictures: a DEM's colour ramp and hillshade, RGBA assembly and PNG encoding.

Array in, array out (numpy), no I/O.  The PNG encoder is the format's few lines (IHDR, one IDAT
with the "Up" filter, IEND) over ``zlib``: no imaging library is needed for 256 × 256 RGBA.

Examples
--------
>>> import numpy as np
>>> png = encode_png(np.zeros((4, 2, 2), dtype="uint8"))
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["DEM_RAMP", "dem_rgba", "encode_png", "hillshade", "rgb_rgba"]

# Hypsometric ramp for a building site (position 0..1 of the layer's value range → RGB):
# the pit floor in blues, slopes through teal and green, natural ground in sand and brown.
DEM_RAMP = (
    (0.00, (43, 62, 140)),
    (0.20, (49, 130, 189)),
    (0.45, (102, 194, 165)),
    (0.70, (171, 221, 164)),
    (0.85, (254, 224, 139)),
    (1.00, (166, 97, 26)),
)


def hillshade(elevation: np.ndarray, cell_size: float, *, azimuth: float = 315.0,
              altitude: float = 45.0, z_factor: float = 1.0) -> np.ndarray:
    """Lambertian hillshade (0..1) of a 2-D elevation array with square cells of ``cell_size``
    metres; the result is 2 pixels smaller in each dimension (the border feeds the gradient)."""
    z = elevation.astype("float64") * z_factor
    dzdx = ((z[1:-1, 2:] - z[1:-1, :-2]) / (2.0 * cell_size))
    dzdy = ((z[:-2, 1:-1] - z[2:, 1:-1]) / (2.0 * cell_size))  # rows run north to south
    az, alt = np.radians(azimuth), np.radians(altitude)
    # The surface normal (-dz/dx, -dz/dy, 1) against the direction of the sun (x east, y north).
    sun_x, sun_y, sun_z = np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt)
    shade = (-dzdx * sun_x - dzdy * sun_y + sun_z) / np.sqrt(1.0 + dzdx ** 2 + dzdy ** 2)
    return np.clip(shade, 0.0, 1.0)


def _ramp(t: np.ndarray) -> np.ndarray:
    stops = np.array([s for s, _ in DEM_RAMP])
    colours = np.array([c for _, c in DEM_RAMP], dtype="float64")
    t = np.clip(t, 0.0, 1.0)
    return np.stack([np.interp(t, stops, colours[:, i]) for i in range(3)])


def dem_rgba(elevation: np.ndarray, valid: np.ndarray, cell_size: float, low: float,
             high: float) -> np.ndarray:
    """Colour-ramped, hill-shaded RGBA (4, h-2, w-2) uint8 from an elevation array with a
    one-pixel border; ``valid`` (same shape) marks data, the rest is transparent.

    ``low``/``high`` are the layer's value range, the same for every tile so that tiles match.
    """
    filled = np.where(valid, elevation, np.nan)
    if np.isnan(filled).all():
        return np.zeros((4, elevation.shape[0] - 2, elevation.shape[1] - 2), dtype="uint8")
    # Gaps (nodata) would make cliffs in the shading: fill them with the nearest-ish value.
    filled = np.where(np.isnan(filled), np.nanmean(filled), filled)
    shade = hillshade(filled, cell_size)
    inner = filled[1:-1, 1:-1]
    span = high - low if high > low else 1.0
    rgb = _ramp((inner - low) / span) * (0.45 + 0.55 * shade)
    alpha = np.where(valid[1:-1, 1:-1], 255, 0)
    return np.concatenate([np.clip(rgb, 0, 255), alpha[None]]).astype("uint8")


def rgb_rgba(bands: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """RGBA (4, h, w) uint8 from 1, 3 or 4 uint8 bands; ``valid`` (h, w) becomes the alpha."""
    if bands.shape[0] >= 3:
        rgb = bands[:3]
    else:
        rgb = np.repeat(bands[:1], 3, axis=0)
    alpha = np.where(valid, 255, 0).astype("uint8")
    return np.concatenate([rgb.astype("uint8"), alpha[None]])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rgba: np.ndarray, *, level: int = 6) -> bytes:
    """PNG bytes of an RGBA (4, h, w) uint8 array (8-bit, colour type 6, "Up" filter)."""
    if rgba.ndim != 3 or rgba.shape[0] != 4 or rgba.dtype != np.uint8:
        raise ValueError("encode_png expects a (4, h, w) uint8 array")
    _, h, w = rgba.shape
    pixels = np.ascontiguousarray(np.moveaxis(rgba, 0, -1)).reshape(h, w * 4)
    up = pixels.copy()
    up[1:] = pixels[1:] - pixels[:-1]  # uint8 arithmetic wraps modulo 256, as PNG wants
    raw = np.concatenate([np.full((h, 1), 2, dtype="uint8"), up], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, level)) + _chunk(b"IEND", b""))
