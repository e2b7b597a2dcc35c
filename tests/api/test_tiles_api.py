"""OGC API Tiles (MVT) and raster tiles over HTTP, on the sample city."""

from __future__ import annotations

import warnings

import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from spatial.collections import COLLECTIONS
from tiles.raster import files_root_of
from tiles.sample_rasters import write_sample_rasters

WMQ = morecantile.tms.get("WebMercatorQuad")
MVT = "application/vnd.mapbox-vector-tile"
TILES_CONF = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"


def _path(app, href: str) -> str:
    base = app.config["SITEWATCH_SETTINGS"].app.base_url
    assert href.startswith(base), href
    return href[len(base):]


def _tile_of(city_conn, z: int, code: str | None = None) -> tuple[int, int, int, str]:
    """The tile at zoom z holding a project's centroid (by default the one whose tile holds the
    most projects), with that project's code."""
    rows = city_conn.execute("SELECT code, ST_X(ST_Centroid(footprint)), "
                             "ST_Y(ST_Centroid(footprint)) FROM sitewatch.project "
                             "ORDER BY code").fetchall()
    tiles = {c: WMQ.tile(lon, lat, z) for c, lon, lat in rows}
    if code is None:
        counts: dict = {}
        for t in tiles.values():
            counts[(t.y, t.x)] = counts.get((t.y, t.x), 0) + 1
        best = max(counts, key=lambda k: (counts[k], k))
        code = next(c for c, t in tiles.items() if (t.y, t.x) == best)
    t = tiles[code]
    return z, t.y, t.x, code


def _expected(city_conn, z: int, y: int, x: int) -> dict[str, tuple]:
    rows = city_conn.execute(
        "SELECT code, name, stage, type, district_code FROM sitewatch.project "
        "WHERE ST_Intersects(footprint, ST_Transform(ST_TileEnvelope(%s, %s, %s), 4490))",
        (z, x, y)).fetchall()
    return {r[0]: r[1:] for r in rows}


def _features(data: bytes, layer: str = "projects") -> list[dict]:
    return mapbox_vector_tile.decode(data)[layer]["features"]


def _tile_url(coll: str, z: int, y: int, x: int) -> str:
    return f"/ogc/collections/{coll}/tiles/WebMercatorQuad/{z}/{y}/{x}"


# -- discovery -------------------------------------------------------------------------------------

def test_collection_links_to_its_tilesets_and_conformance_lists_tiles(client, app):
    body = client.get("/ogc/collections/projects?f=json").get_json()
    (link,) = [lk for lk in body["links"] if lk["rel"] == TILESETS_VECTOR]
    listing = client.get(_path(app, link["href"]))
    assert listing.status_code == 200
    assert listing.get_json()["tilesets"][0]["dataType"] == "vector"
    conforms = client.get("/ogc/conformance?f=json").get_json()["conformsTo"]
    for cls in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt"):
        assert TILES_CONF + cls in conforms


def test_tileset_metadata_and_its_links_resolve(client, app, city_conn):
    listing = client.get("/ogc/collections/projects/tiles").get_json()
    (entry,) = listing["tilesets"]
    self_href = next(lk["href"] for lk in entry["links"] if lk["rel"] == "self")
    meta = client.get(_path(app, self_href))
    assert meta.status_code == 200 and meta.mimetype == "application/json"
    doc = meta.get_json()
    assert doc["tileMatrixSetURI"] == \
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    assert doc["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert doc["dataType"] == "vector"
    (layer,) = doc["layers"]
    assert layer["id"] == "projects" and layer["geometryDimension"] == 2
    fields = layer["propertiesSchema"]["properties"]
    assert {"code", "name", "stage", "type", "district_code", "investment"} <= set(fields)
    assert "description" in fields["investment"] and "description" not in fields["stage"]
    west, south = doc["boundingBox"]["lowerLeft"]
    assert 119 < west < 121 and 29 < south < 31
    for lk in doc["links"]:
        if lk.get("templated"):
            assert lk["rel"] == "item" and lk["type"] == MVT
            assert lk["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
            z, y, x, _ = _tile_of(city_conn, 14)
            href = lk["href"].format(tileMatrix=z, tileRow=y, tileCol=x)
            tile = client.get(_path(app, href))
            assert tile.status_code == 200 and tile.mimetype == MVT
        else:
            got = client.get(_path(app, lk["href"]))
            assert got.status_code == 200, lk
    tms = client.get("/ogc/tileMatrixSets/WebMercatorQuad").get_json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == 25
    sets = client.get("/ogc/tileMatrixSets").get_json()["tileMatrixSets"]
    assert [s["id"] for s in sets] == ["WebMercatorQuad"]


# -- tiles -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("z", [10, 13, 16])
def test_tile_decodes_with_the_expected_features_and_properties(client, city_conn, z):
    z, y, x, _ = _tile_of(city_conn, z)
    resp = client.get(_tile_url("projects", z, y, x))
    assert resp.status_code == 200 and resp.mimetype == MVT
    assert resp.headers["ETag"].startswith('W/"')
    assert resp.headers["Cache-Control"] == "no-cache"
    feats = _features(resp.data)
    expected = _expected(city_conn, z, y, x)
    assert sorted(f["properties"]["code"] for f in feats) == sorted(expected)
    for f in feats:
        p = f["properties"]
        assert (p["name"], p["stage"], p["type"], p["district_code"]) == expected[p["code"]]
        for part in _coords(f["geometry"]["coordinates"]):
            assert all(-64 <= c <= 4096 + 64 for c in part)
    if z >= 14:
        assert any("investment" in f["properties"] for f in feats)
    else:
        assert not any("permit_no" in f["properties"] for f in feats)


def _coords(c):
    if c and isinstance(c[0], (int, float)):
        yield c
    else:
        for part in c:
            yield from _coords(part)


def test_a_tile_without_features_is_204(client):
    resp = client.get(_tile_url("projects", 9, 0, 0))
    assert resp.status_code == 204 and resp.data == b""
    assert resp.headers["ETag"]
    again = client.get(_tile_url("projects", 9, 0, 0),
                       headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("z,y,x", [(25, 0, 0), (3, 8, 0), (3, 0, 8), (-1, 0, 0), (2, "a", 0)])
def test_out_of_range_tiles_are_400(client, z, y, x):
    resp = client.get(_tile_url("projects", z, y, x))
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "InvalidParameterValue"


def test_unknown_collection_tile_matrix_set_or_parameter(client):
    assert client.get("/ogc/collections/nope/tiles").status_code == 404
    assert client.get(_tile_url("nope", 1, 0, 0)).status_code == 404
    assert client.get("/ogc/collections/projects/tiles/WorldCRS84Quad").status_code == 404
    assert client.get("/ogc/collections/projects/tiles/WorldCRS84Quad/1/0/0").status_code == 404
    assert client.get("/ogc/tileMatrixSets/Nope").status_code == 404
    assert client.get(_tile_url("projects", 1, 0, 0) + "?stage=x").status_code == 400
    assert client.get("/ogc/collections/projects/tiles?f=html").status_code == 400


def test_304_until_a_project_in_the_tile_changes(client, city_conn):
    z, y, x, code = _tile_of(city_conn, 15)
    url = _tile_url("projects", z, y, x)
    first = client.get(url)
    etag = first.headers["ETag"]
    cached = client.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.data == b""
    assert cached.headers["ETag"] == etag and cached.headers["Cache-Control"] == "no-cache"
    city_conn.execute("UPDATE sitewatch.project SET name = name || ' (改)' WHERE code = %s",
                      (code,))
    try:
        fresh = client.get(url, headers={"If-None-Match": etag})
        assert fresh.status_code == 200
        assert fresh.headers["ETag"] != etag
        names = {f["properties"]["code"]: f["properties"]["name"] for f in _features(fresh.data)}
        assert names[code].endswith(" (改)")
        assert client.get(url, headers={"If-None-Match": fresh.headers["ETag"]}).status_code == 304
    finally:
        city_conn.execute("UPDATE sitewatch.project SET name = left(name, -4) WHERE code = %s",
                          (code,))
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_fast_path_and_flask_path_answer_alike(client, city_conn):
    z, y, x, _ = _tile_of(city_conn, 14)
    url = _tile_url("projects", z, y, x)
    fast = client.get(url)
    via_flask = client.get(url + "?f=mvt")
    cross_origin = client.get(url, headers={"Origin": "https://dashboard.example"})
    for other in (via_flask, cross_origin):
        assert other.status_code == fast.status_code == 200
        assert other.data == fast.data
        for header in ("ETag", "Cache-Control", "Content-Type", "Content-Length"):
            assert other.headers[header] == fast.headers[header]
    assert cross_origin.headers["Access-Control-Allow-Origin"] in ("*", "https://dashboard.example")
    assert "ETag" in cross_origin.headers["Access-Control-Expose-Headers"]
    etag = fast.headers["ETag"]
    assert client.get(url + "?f=mvt", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("cid", sorted(COLLECTIONS))
def test_every_collection_has_tiles(client, cid):
    listing = client.get(f"/ogc/collections/{cid}/tiles")
    assert listing.status_code == 200
    meta = client.get(f"/ogc/collections/{cid}/tiles/WebMercatorQuad").get_json()
    assert meta["layers"][0]["id"] == cid
    resp = client.get(_tile_url(cid, 0, 0, 0))
    assert resp.status_code in (200, 204)
    if resp.status_code == 200:
        assert set(mapbox_vector_tile.decode(resp.data)) == {cid}


def test_district_tiles_carry_names(client, city_conn):
    code, lon, lat = city_conn.execute(
        "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
        "FROM sitewatch.district ORDER BY code LIMIT 1").fetchone()
    t = WMQ.tile(lon, lat, 10)
    feats = _features(client.get(_tile_url("districts", 10, t.y, t.x)).data, "districts")
    assert code in {f["properties"]["code"] for f in feats}
    assert all(f["properties"]["name"] for f in feats)


# -- raster layers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rasters(app, city_conn):
    root = files_root_of(app.config["SITEWATCH_SETTINGS"].app.data)
    return write_sample_rasters(city_conn, root)


def _png(data: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(data) as mem, mem.open() as ds:
            return ds.read()


def test_raster_layers_of_a_project_and_their_tiles(client, app, city_conn, rasters):
    project = rasters[0]["project"]
    listed = client.get(f"/api/v1/rasters?project={project}").get_json()["rasters"]
    assert sorted(r["kind"] for r in listed) == ["dem", "orthophoto"]
    assert client.get("/api/v1/rasters?project=nope").get_json()["rasters"] == []
    lon, lat = city_conn.execute("SELECT ST_X(ST_Centroid(footprint)), ST_Y(ST_Centroid("
                                 "footprint)) FROM sitewatch.project WHERE code = %s",
                                 (project,)).fetchone()
    for layer in listed:
        desc = client.get(_path(app, layer["links"][0]["href"])).get_json()
        assert desc["id"] == layer["id"] and desc["crs"] == "EPSG:4549"
        sets = client.get(f"/api/v1/rasters/{layer['id']}/tiles").get_json()["tilesets"]
        meta_href = next(lk["href"] for lk in sets[0]["links"] if lk["rel"] == "self")
        meta = client.get(_path(app, meta_href)).get_json()
        assert meta["dataType"] == "map"
        item = next(lk for lk in meta["links"] if lk["rel"] == "item")
        assert item["templated"] and item["type"] == "image/png"
        t = WMQ.tile(lon, lat, 17)
        limits = {lim["tileMatrix"]: lim for lim in meta["tileMatrixSetLimits"]}
        assert limits["17"]["minTileCol"] <= t.x <= limits["17"]["maxTileCol"]
        href = item["href"].format(tileMatrix=17, tileRow=t.y, tileCol=t.x)
        resp = client.get(_path(app, href))
        assert resp.status_code == 200 and resp.mimetype == "image/png"
        rgba = _png(resp.data)
        assert rgba.shape == (4, 256, 256)
        xb = WMQ.xy_bounds(t)
        px, py = WMQ.xy(lon, lat)
        col = int((px - xb.left) / (xb.right - xb.left) * 256)
        row = int((xb.top - py) / (xb.top - xb.bottom) * 256)
        assert rgba[3, row, col] == 255 and rgba[:3, row, col].any()
        # 304 with the ETag.
        again = client.get(_path(app, href), headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status_code == 304
        # At the edge of the data a tile is partly transparent; past the limits there is none.
        lim = limits["18"]
        base = f"/api/v1/rasters/{layer['id']}/tiles/WebMercatorQuad/18"
        alphas = [_png(client.get(f"{base}/{r}/{c}.png").data)[3]
                  for r in range(lim["minTileRow"], lim["maxTileRow"] + 1)
                  for c in range(lim["minTileCol"], lim["maxTileCol"] + 1)]
        assert any((a == 0).any() and (a == 255).any() for a in alphas)
        assert client.get(f"{base}/{lim['minTileRow'] - 1}/{lim['minTileCol']}.png"
                          ).status_code == 404
    assert client.get("/api/v1/rasters/999999").status_code == 404
    assert client.get("/api/v1/rasters/1/tiles/WebMercatorQuad/30/0/0.png").status_code == 400
