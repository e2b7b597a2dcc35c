"""Raster layers: the generated sample COGs, their registry rows and PNG tiles."""

from __future__ import annotations

import math
import warnings

import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from tiles import raster, sample_rasters
from tiles.tms import parse_tile

WMQ = morecantile.tms.get("WebMercatorQuad")


def decode_png(png: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(png) as mem, mem.open() as ds:
            assert ds.driver == "PNG"
            return ds.read()


@pytest.fixture(scope="module")
def generated(tiles_url, tmp_path_factory):
    from spatial import db
    root = tmp_path_factory.mktemp("files")
    with db.connect(tiles_url) as conn:
        made = sample_rasters.write_sample_rasters(conn, root)
        conn.commit()
        layers = {layer.kind: layer for layer in raster.list_layers(conn, root)}
    return root, made, layers


def test_sample_is_deterministic_cog(generated, tiles_url, tmp_path):
    from spatial import db
    root, made, _ = generated
    assert [m["kind"] for m in made] == ["dem", "orthophoto"]
    with db.connect(tiles_url) as conn:
        again = sample_rasters.write_sample_rasters(conn, tmp_path)
        conn.rollback()  # keep the registry pointing at the module's files
    for first, second in zip(made, again):
        assert (root / first["path"]).read_bytes() == (tmp_path / second["path"]).read_bytes()
    for m in made:
        with rasterio.open(root / m["path"]) as src:
            assert src.crs.to_epsg() == 4549            # CGCS2000 3-degree GK, CM 120E
            assert src.profile["tiled"] and src.profile["blockxsize"] == 256
            assert src.overviews(1), "a COG carries overviews"
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_registry_describes_the_files(generated, tiles_conn):
    _, made, layers = generated
    dem, ortho = layers["dem"], layers["orthophoto"]
    assert dem.project_code == made[0]["project"] == ortho.project_code
    assert (dem.resolution, ortho.resolution) == (0.5, 0.25)
    assert ortho.band_count == 4 and ortho.dtype == "uint8"
    # The pit floor is ~12 m under the ground (7.5 m); a spoil heap rises above it.
    assert dem.min_value == pytest.approx(7.5 - 12.0 - 1.2, abs=1.0)
    assert dem.max_value > 7.5 + 2.0
    inside = tiles_conn.execute(
        "SELECT ST_Within(ST_Centroid(p.footprint), r.footprint) FROM sitewatch.project p "
        "JOIN sitewatch.project_raster r ON r.project_id = p.id WHERE r.id = %s",
        (dem.id,)).fetchone()[0]
    assert inside


def _centre_tile(layer: raster.RasterLayer, z: int):
    lon = (layer.bounds[0] + layer.bounds[2]) / 2
    lat = (layer.bounds[1] + layer.bounds[3]) / 2
    t = WMQ.tile(lon, lat, z)
    return parse_tile("WebMercatorQuad", str(z), str(t.y), str(t.x)), lon, lat


def _pixel(tile, lon: float, lat: float) -> tuple[int, int]:
    b = WMQ.bounds(tile.x, tile.y, tile.z)
    x, y = WMQ.xy(lon, lat)
    xb = WMQ.xy_bounds(tile.x, tile.y, tile.z)
    col = int((x - xb.left) / (xb.right - xb.left) * 256)
    row = int((xb.top - y) / (xb.top - xb.bottom) * 256)
    assert b.left <= lon <= b.right
    return row, col


@pytest.mark.parametrize("kind", ["orthophoto", "dem"])
def test_tile_png_has_data_where_the_raster_is_and_is_transparent_elsewhere(generated, kind):
    layer = generated[2][kind]
    tile, lon, lat = _centre_tile(layer, 16)
    assert raster.tile_in_range(layer, tile)
    rgba = decode_png(raster.render_tile(layer, tile))
    assert rgba.shape == (4, 256, 256) and rgba.dtype == np.uint8
    row, col = _pixel(tile, lon, lat)
    assert rgba[3, row, col] == 255 and rgba[:3, row, col].any()
    # Pixels whose centre lies outside the raster's bounding box have no data.
    xb = WMQ.xy_bounds(tile.x, tile.y, tile.z)
    size = (xb.right - xb.left) / 256
    xs = xb.left + (np.arange(256) + 0.5) * size
    ys = xb.top - (np.arange(256) + 0.5) * size
    lons = np.degrees(xs / 6378137.0)
    lats = np.degrees(2 * np.arctan(np.exp(ys / 6378137.0)) - math.pi / 2)
    west, south, east, north = layer.bounds
    outside = ((lons[None, :] < west - 1e-5) | (lons[None, :] > east + 1e-5)
               | (lats[:, None] < south - 1e-5) | (lats[:, None] > north + 1e-5))
    assert outside.any() and (rgba[3][outside] == 0).all()
    assert (rgba[3] == 255).sum() > 2000


def test_city_zoom_tile_reads_an_overview(generated):
    layer = generated[2]["orthophoto"]
    lo, hi = layer.zoom_range()
    assert lo <= 12 and hi >= 21
    tile, _, _ = _centre_tile(layer, lo + 1)
    with rasterio.open(layer.path) as src:
        ground = 2 * 20037508.342789244 / 256 / 2 ** tile.z * math.cos(math.radians(30.3))
        assert raster._overview_level(src, ground, layer) == len(src.overviews(1)) - 1
        assert raster._overview_level(src, layer.resolution, layer) is None
    rgba = decode_png(raster.render_tile(layer, tile))
    assert 0 < (rgba[3] > 0).sum() < 256 * 256
    far = parse_tile("WebMercatorQuad", "16", "0", "0")
    assert not raster.tile_in_range(layer, far)
    assert not raster.tile_in_range(layer, _centre_tile(layer, hi + 1)[0])
