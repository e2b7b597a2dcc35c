"""The OGC API Tiles endpoints in the OpenAPI document at /ogc/openapi: listed for every
collection with their parameters and responses, and every path listed answers as declared."""

from __future__ import annotations

import json
import re

import mapbox_vector_tile
import morecantile
import pytest

from spatial.collections import COLLECTIONS

WMQ = morecantile.tms.get("WebMercatorQuad")
MVT = "application/vnd.mapbox-vector-tile"
TILE = "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"


@pytest.fixture(scope="module")
def openapi(app) -> dict:
    response = app.test_client().get("/ogc/openapi", query_string={"f": "json"})
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def _deref(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _params(doc: dict, path: str) -> dict[str, dict]:
    return {p["name"]: p for p in (_deref(doc, p) for p in doc["paths"][path]["get"]["parameters"])}


def _responses(doc: dict, path: str) -> dict[str, dict]:
    return {code: _deref(doc, r) for code, r in doc["paths"][path]["get"]["responses"].items()}


def _tile_paths(doc: dict) -> list[str]:
    return [p for p in doc["paths"] if re.search(r"/tiles(/|$)|^/tileMatrixSets", p)]


def _check_body(doc: dict, path: str, body: dict) -> None:
    """The body validates against the schema the document declares for the 200 answer."""
    validator = pytest.importorskip("openapi_schema_validator",
                                    reason="pip install -e '.[test]' (openapi-spec-validator)")
    schema = _responses(doc, path)["200"]["content"]["application/json"]["schema"]
    validator.OAS30Validator({"components": doc["components"], "allOf": [schema]}).validate(body)


def test_the_document_is_valid_openapi_3_0(openapi):
    spec = pytest.importorskip("openapi_spec_validator",
                               reason="pip install -e '.[test]' (openapi-spec-validator)")
    spec.validate(openapi, cls=spec.OpenAPIV30SpecValidator)


@pytest.mark.parametrize("cid", sorted(COLLECTIONS))
def test_each_collection_lists_its_tile_paths(openapi, cid):
    base = f"/collections/{cid}/tiles"
    assert {base, f"{base}/{{tileMatrixSetId}}", base + TILE} <= set(openapi["paths"])

    tile = _params(openapi, base + TILE)
    assert {n: p["in"] for n, p in tile.items()} == {
        "tileMatrixSetId": "path", "tileMatrix": "path", "tileRow": "path", "tileCol": "path",
        "f": "query", "If-None-Match": "header"}
    assert all(tile[n]["required"] for n in ("tileMatrixSetId", "tileMatrix", "tileRow", "tileCol"))
    assert tile["tileMatrixSetId"]["schema"]["enum"] == ["WebMercatorQuad"]
    # Bounds of WebMercatorQuad, from morecantile (the registry's definition), not our code.
    deepest = WMQ.matrix(WMQ.maxzoom)
    assert tile["tileMatrix"]["schema"] == {"type": "integer", "minimum": WMQ.minzoom,
                                            "maximum": WMQ.maxzoom}
    assert tile["tileRow"]["schema"] == {"type": "integer", "minimum": 0,
                                         "maximum": deepest.matrixHeight - 1}
    assert tile["tileCol"]["schema"] == {"type": "integer", "minimum": 0,
                                         "maximum": deepest.matrixWidth - 1}
    assert tile["f"]["schema"]["enum"] == ["mvt"]

    answers = _responses(openapi, base + TILE)
    assert set(answers) == {"200", "204", "304", "400", "404", "500"}
    assert answers["200"]["content"][MVT]["schema"] == {"type": "string", "format": "binary"}
    assert "content" not in answers["204"] and "content" not in answers["304"]
    assert {"ETag", "Cache-Control"} <= set(answers["304"]["headers"])
    for code in ("400", "404", "500"):
        schema = answers[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/exception"}

    for path in (base, f"{base}/{{tileMatrixSetId}}"):
        answers = _responses(openapi, path)
        assert set(answers) == {"200", "400", "404", "500"}
        assert list(answers["200"]["content"]) == ["application/json"]
        assert _params(openapi, path)["f"]["schema"]["enum"] == ["json"]
    assert set(_params(openapi, f"{base}/{{tileMatrixSetId}}")) == {"tileMatrixSetId", "f"}


def test_tile_matrix_sets_are_listed(openapi):
    assert _responses(openapi, "/tileMatrixSets")["200"]["content"]["application/json"]
    one = _params(openapi, "/tileMatrixSets/{tileMatrixSetId}")
    assert one["tileMatrixSetId"]["in"] == "path"
    assert one["tileMatrixSetId"]["schema"]["enum"] == ["WebMercatorQuad"]


def _project_tile(city_conn, z: int) -> tuple[int, int, int, str]:
    code, lon, lat = city_conn.execute(
        "SELECT code, ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint)) "
        "FROM sitewatch.project ORDER BY code LIMIT 1").fetchone()
    t = WMQ.tile(lon, lat, z)
    return z, t.y, t.x, code


def test_every_tile_path_listed_answers(client, openapi, city_conn):
    z, y, x, code = _project_tile(city_conn, 15)
    paths = _tile_paths(openapi)
    assert len(paths) == 3 * len(COLLECTIONS) + 2
    for path in paths:
        url = "/ogc" + (path.replace("{tileMatrixSetId}", "WebMercatorQuad")
                        .replace("{tileMatrix}", str(z)).replace("{tileRow}", str(y))
                        .replace("{tileCol}", str(x)))
        resp = client.get(url)
        declared = _responses(openapi, path)
        assert str(resp.status_code) in declared, (url, resp.status_code)
        if path.endswith(TILE):
            assert resp.status_code in (200, 204), (url, resp.status_code)
            if resp.status_code == 200:
                assert resp.headers["Content-Type"] == MVT
                layer = path.split("/")[2]
                assert set(mapbox_vector_tile.decode(resp.data)) == {layer}
            # The 304 the document declares.
            again = client.get(url, headers={"If-None-Match": resp.headers["ETag"]})
            assert again.status_code == 304 and "304" in declared
        else:
            assert resp.status_code == 200, (url, resp.status_code)
            _check_body(openapi, path, resp.get_json())
    # The projects tile holds the project it was chosen for.
    resp = client.get(f"/ogc/collections/projects/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert resp.status_code == 200
    codes = {f["properties"]["code"] for f in mapbox_vector_tile.decode(resp.data)["projects"]["features"]}
    assert code in codes


def test_declared_bounds_are_the_servers(client, openapi):
    """The deepest tile matrix and the last row/column the document allows are served; one
    beyond is the 400 it declares."""
    tile = _params(openapi, "/collections/projects/tiles" + TILE)
    zmax, last = tile["tileMatrix"]["schema"]["maximum"], tile["tileRow"]["schema"]["maximum"]
    url = "/ogc/collections/projects/tiles/WebMercatorQuad/{}/{}/{}"
    assert client.get(url.format(zmax, last, last)).status_code == 204
    for args in ((zmax + 1, 0, 0), (zmax, last + 1, 0), (zmax, 0, last + 1)):
        resp = client.get(url.format(*args))
        assert resp.status_code == 400 and resp.get_json()["code"] == "InvalidParameterValue"
    assert client.get("/ogc/collections/projects/tiles/WorldCRS84Quad").status_code == 404
