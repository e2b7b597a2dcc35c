"""PNG encoding and the DEM rendering."""

from __future__ import annotations

import warnings

import numpy as np
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from tiles import render


def _decode(png: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG has no geotransform
        with MemoryFile(png) as mem, mem.open() as ds:
            return ds.read()


def test_png_round_trip_is_lossless():
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (4, 37, 53), dtype=np.uint8)
    png = render.encode_png(rgba)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (_decode(png) == rgba).all()


def test_hillshade_lights_slopes_facing_the_north_west_sun():
    rows, cols = np.mgrid[0:6, 0:6].astype(float)
    rising_to_south_east = rows + cols   # faces north-west
    assert render.hillshade(rising_to_south_east, 1.0).min() > 0.9
    assert render.hillshade(-rising_to_south_east, 1.0).max() < 0.05
    assert render.hillshade(np.zeros((5, 5)), 1.0).shape == (3, 3)


def test_dem_rgba_is_transparent_without_data_and_ramped_with_it():
    z = np.tile(np.linspace(0.0, 10.0, 10), (10, 1))
    valid = np.ones_like(z, dtype=bool)
    valid[:, :5] = False
    rgba = render.dem_rgba(z, valid, 1.0, 0.0, 10.0)
    assert rgba.shape == (4, 8, 8)
    assert (rgba[3, :, :4] == 0).all() and (rgba[3, :, 4:] == 255).all()
    assert (render.dem_rgba(z, np.zeros_like(valid), 1.0, 0.0, 10.0) == 0).all()
