"""Tile matrix sets and tile addresses."""

from __future__ import annotations

import pytest

from spatial.errors import InvalidQuery, NotFound
from tiles import tms


def test_parse_tile_accepts_the_matrix_and_rejects_outside_it():
    assert tms.parse_tile("WebMercatorQuad", "0", "0", "0") == tms.TileAddress(
        "WebMercatorQuad", 0, 0, 0)
    assert tms.parse_tile("WebMercatorQuad", "24", str(2**24 - 1), "0").y == 2**24 - 1
    for z, y, x, parameter in (("25", "0", "0", "tileMatrix"), ("3", "8", "0", "tileRow"),
                               ("3", "0", "8", "tileCol"), ("-1", "0", "0", "tileMatrix"),
                               ("1", "0.5", "0", "tileRow"), ("1", "0", "x", "tileCol"),
                               ("١", "0", "0", "tileMatrix")):
        with pytest.raises(InvalidQuery) as info:
            tms.parse_tile("WebMercatorQuad", z, y, x)
        assert info.value.parameter == parameter


def test_unknown_tile_matrix_set_is_not_found():
    with pytest.raises(NotFound):
        tms.parse_tile("WorldCRS84Quad", "0", "0", "0")


def test_document_is_the_registry_definition():
    doc = tms.document("WebMercatorQuad")
    assert doc["id"] == "WebMercatorQuad"
    assert doc["uri"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    assert doc["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert [m["matrixWidth"] for m in doc["tileMatrices"][:4]] == [1, 2, 4, 8]


def test_tile_limits_cover_the_bounds():
    # West Lake, Hangzhou: z10 tile 853/421 (col/row) holds it.
    limits = tms.tile_limits("WebMercatorQuad", (120.13, 30.23, 120.16, 30.26), 10, 12)
    assert limits[0] == {"tileMatrix": "10", "minTileRow": 421, "maxTileRow": 421,
                         "minTileCol": 853, "maxTileCol": 853}
    assert [lim["tileMatrix"] for lim in limits] == ["10", "11", "12"]
    assert limits[2]["maxTileCol"] >= limits[2]["minTileCol"]
