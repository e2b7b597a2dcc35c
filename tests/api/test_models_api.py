"""REST API for BIM models and the OGC collection bim-elements, through the app's own worker.

Uploads go to a project made here in the sample-city database (removed at the end).  The
expected numbers come from ifcopenshell and SQL in the test, and the GLB is read with the small
reader in tests/bim/glb.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from urllib.parse import quote

import ifcopenshell
import pytest

from spatial import tokens
from tests.bim.glb import read_glb
from tests.conftest import shared_file

LABEL = "tests/api/test_models_api"
CODE = "TESTMODELS-1"
ITEMS = "/ogc/collections/bim-elements/items"


@pytest.fixture(scope="module")
def party(city_conn) -> str:
    return city_conn.execute("SELECT credit_code FROM sitewatch.enterprise"
                             " ORDER BY credit_code LIMIT 1").fetchone()[0]


@pytest.fixture(scope="module")
def tok(city_conn, party):
    outsider = city_conn.execute("SELECT credit_code FROM sitewatch.enterprise"
                                 " WHERE credit_code <> %s ORDER BY credit_code DESC LIMIT 1",
                                 (party,)).fetchone()[0]
    made = {
        "admin": tokens.create(city_conn, role="admin", label=LABEL),
        "party": tokens.create(city_conn, role="enterprise", scope=party, label=LABEL),
        "outsider": tokens.create(city_conn, role="enterprise", scope=outsider, label=LABEL),
        "supervisor": tokens.create(city_conn, role="supervisor", label=LABEL),
    }
    yield made
    city_conn.execute("DELETE FROM sitewatch.api_token WHERE label = %s", (LABEL,))


@pytest.fixture(scope="module")
def project(city_conn, party):
    """A ~120 m square project in Hangzhou whose contractor is ``party``."""
    city_conn.execute("DELETE FROM sitewatch.project WHERE code = %s", (CODE,))
    city_conn.execute(
        "INSERT INTO sitewatch.project (code, name, district_code, type, stage, contractor_unit,"
        " footprint) VALUES (%s, 'BIM upload test', '330106', 'housing', 'under_construction',"
        " %s, ST_Multi(ST_MakeEnvelope(120.1494, 30.2795, 120.1506, 30.2805, 4490)))",
        (CODE, party))
    yield CODE
    city_conn.execute("DELETE FROM sitewatch.project WHERE code = %s", (CODE,))


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def exception(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert {"code", "type", "description"} <= body.keys() and body["description"]
    return body


def wait_done(client, model_id: int, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/models/{model_id}").get_json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"model {model_id} still {body['status']} after {timeout} s")


@pytest.fixture(scope="module")
def fzk(app, tok, project):
    """AC20-FZK-Haus uploaded as a raw body by an admin and parsed by the app's worker."""
    client = app.test_client()
    data = shared_file("sample_ifc_external", "AC20-FZK-Haus.ifc").read_bytes()
    response = client.post(f"/api/v1/projects/{project}/models", data=data,
                           headers={**auth(tok["admin"]), "Content-Type": "application/octet-stream",
                                    "X-File-Name": "AC20-FZK-Haus.ifc"})
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "queued" and body["job_id"] and body["created"]
    assert response.headers["Location"].endswith(f"/api/v1/models/{body['model_id']}")
    return wait_done(client, body["model_id"]), data


def test_upload_needs_a_token_of_a_party(client, tok, project):
    data = shared_file("sample_ifc_external", "geographic-referencing-gk.ifc").read_bytes()
    url = f"/api/v1/projects/{project}/models"
    exception(client.post(url, data=data), 401)
    exception(client.post(url, data=data, headers=auth(tok["outsider"])), 403)
    exception(client.post(url, data=data, headers=auth(tok["supervisor"])), 403)
    exception(client.post("/api/v1/projects/NO-SUCH-PROJECT/models", data=data,
                          headers=auth(tok["admin"])), 404)


def test_raw_upload_parses_with_summary(fzk):
    model, data = fzk
    assert model["status"] == "done", model["reason"]
    assert model["sha256"] == hashlib.sha256(data).hexdigest()
    summary = model["summary"]
    ifc = ifcopenshell.open(str(shared_file("sample_ifc_external", "AC20-FZK-Haus.ifc")))
    walls = len(ifc.by_type("IfcWall"))
    assert sum(n for c, n in summary["elements_by_class"].items()
               if c.startswith("IfcWall")) == walls
    assert summary["schema"] == "IFC4"
    assert [s["name"] for s in summary["storeys"]] == ["Erdgeschoss", "Dachgeschoss"]
    assert summary["georeferencing"]["method"] == "site_reference"
    assert "schedule" in summary
    # Karlsruhe is not Hangzhou: stored, but flagged with the distance.
    suspect = [w for w in model["warnings"] if w["code"] == "georeferencing_suspect"]
    assert suspect and suspect[0]["distance_m"] > 8_000_000


def test_multipart_upload_by_a_party_and_versions(client, tok, project, fzk):
    path = shared_file("sample_ifc_external", "geographic-referencing-gk.ifc")
    response = client.post(f"/api/v1/projects/{project}/models", headers=auth(tok["party"]),
                           data={"file": (io.BytesIO(path.read_bytes()), path.name)},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)
    model = wait_done(client, response.get_json()["model_id"])
    assert model["status"] == "done" and model["version"] == 2 and model["file_name"] == path.name
    # Same bytes again: the same model, nothing new.
    again = client.post(f"/api/v1/projects/{project}/models", headers=auth(tok["admin"]),
                        data=path.read_bytes())
    assert again.status_code == 202 and again.get_json()["model_id"] == model["id"]
    assert again.get_json()["created"] is False
    listing = client.get(f"/api/v1/projects/{project}/models").get_json()["models"]
    assert [m["version"] for m in listing] == [2, 1]
    assert listing[1]["id"] == fzk[0]["id"]


@pytest.mark.parametrize("body, reason", [
    (b"", "empty"), (b"hello, not a model", "not_ifc"),
    (b"ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n#1=IFCWALL(", "truncated"),
])
def test_bad_files_are_422_and_leave_nothing(body, reason, client, tok, project, city_conn):
    before = city_conn.execute("SELECT count(*) FROM sitewatch.bim_model").fetchone()[0]
    response = client.post(f"/api/v1/projects/{project}/models", data=body,
                           headers=auth(tok["admin"]))
    assert exception(response, 422)["errors"][0]["reason"] == reason
    assert city_conn.execute("SELECT count(*) FROM sitewatch.bim_model").fetchone()[0] == before


def test_over_the_upload_limit_is_413(client, app, tok, project, monkeypatch, city_conn):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024 * 1024)
    monkeypatch.setattr(app.config["SITEWATCH_SETTINGS"].app, "max_upload_mb", 1)
    before = city_conn.execute("SELECT count(*) FROM sitewatch.bim_model").fetchone()[0]
    data = shared_file("sample_ifc_external", "Duplex_A_IFC2X3.ifc").read_bytes()
    exception(client.post(f"/api/v1/projects/{project}/models", data=data,
                          headers=auth(tok["admin"])), 413)
    assert city_conn.execute("SELECT count(*) FROM sitewatch.bim_model").fetchone()[0] == before


def test_mesh_glb_with_etag_names_every_element(client, fzk):
    model, _ = fzk
    response = client.get(f"/api/v1/models/{model['id']}/mesh.glb")
    assert response.status_code == 200 and response.mimetype == "model/gltf-binary"
    assert response.headers["ETag"].strip('"') == model["mesh_sha256"]
    doc, binary = read_glb(response.get_data())
    assert hashlib.sha256(response.get_data()).hexdigest() == model["mesh_sha256"]
    names = {n["name"] for n in doc["nodes"][1:]}
    feats = client.get(ITEMS, query_string={"model_id": model["id"], "limit": 1000,
                                            "f": "json"}).get_json()["features"]
    assert names == {f["properties"]["global_id"] for f in feats if f["geometry"]}
    cached = client.get(f"/api/v1/models/{model['id']}/mesh.glb",
                        headers={"If-None-Match": response.headers["ETag"]})
    assert cached.status_code == 304
    exception(client.get("/api/v1/models/999999/mesh.glb"), 404)


def test_manual_placement_moves_the_model_onto_its_project(client, tok, fzk, city_conn):
    model, _ = fzk
    url = f"/api/v1/models/{model['id']}/placement"
    body = {"anchor": {"lon": 120.15, "lat": 30.28}, "rotation": 15}
    exception(client.put(url, json=body, headers=auth(tok["party"])), 403)
    exception(client.put(url, json={"anchor": {"x": 1}}, headers=auth(tok["admin"])), 400)
    exception(client.put(url, json={"anchor": {"e": 1, "n": 2, "epsg": 4326}},
                         headers=auth(tok["admin"])), 400)
    response = client.put(url, json=body, headers=auth(tok["admin"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    placed = response.get_json()
    assert placed["georef_method"] == "manual"
    assert "georeferencing_suspect" not in {w["code"] for w in placed["warnings"]}
    inside, = city_conn.execute(
        "SELECT bool_and(ST_Intersects(e.footprint, p.footprint)) FROM sitewatch.bim_element e"
        " JOIN sitewatch.bim_model m ON m.id = e.model_id JOIN sitewatch.project p"
        " ON p.id = m.project_id WHERE m.id = %s AND e.footprint IS NOT NULL",
        (model["id"],)).fetchone()
    assert inside


# -- OGC API Features on bim-elements (Part 1, 2, 3) ------------------------------------------------

def test_collection_is_listed_with_queryables(client, fzk):
    ids = [c["id"] for c in client.get("/ogc/collections", query_string={"f": "json"})
           .get_json()["collections"]]
    assert "bim-elements" in ids
    queryables = client.get("/ogc/collections/bim-elements/queryables",
                            query_string={"f": "json"}).get_json()["properties"]
    for name in ("global_id", "ifc_class", "storey", "model_id", "project_code", "name",
                 "predefined_type", "material", "bottom_elevation", "top_elevation", "volume",
                 "area"):
        assert name in queryables


def test_items_filter_sort_crs_and_one_item(client, fzk, city_conn):
    model, _ = fzk
    expected = city_conn.execute(
        "SELECT count(*) FROM sitewatch.bim_element WHERE model_id = %s"
        " AND ifc_class LIKE 'IfcWall%%' AND top_elevation > 2", (model["id"],)).fetchone()[0]
    body = client.get(ITEMS, query_string={
        "filter": f"model_id = {model['id']} AND ifc_class LIKE 'IfcWall%' AND top_elevation > 2",
        "limit": 500, "sortby": "-top_elevation", "f": "json"}).get_json()
    assert body["numberMatched"] == expected > 0
    tops = [f["properties"]["top_elevation"] for f in body["features"]]
    assert tops == sorted(tops, reverse=True)
    feature = body["features"][0]
    assert feature["id"] == f"{model['id']}:{feature['properties']['global_id']}"
    assert feature["properties"]["project_code"] == CODE
    assert feature["geometry"]["type"] == "MultiPolygon"
    one = client.get(f"{ITEMS}/{feature['id']}", query_string={
        "crs": "http://www.opengis.net/def/crs/EPSG/0/4549", "f": "json"})
    assert one.status_code == 200
    assert one.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4549>"
    northing, easting = one.get_json()["geometry"]["coordinates"][0][0][0]
    assert 3_340_000 < northing < 3_360_000 and 500_000 < easting < 530_000
    bad = client.get(ITEMS, query_string={"filter": "no_such_property = 1", "f": "json"})
    exception(bad, 400)
    bbox = client.get(ITEMS, query_string={"bbox": "120.149,30.279,120.151,30.281",
                                           "model_id": model["id"], "limit": 1000,
                                           "f": "json"}).get_json()
    with_geometry = city_conn.execute(
        "SELECT count(*) FROM sitewatch.bim_element WHERE model_id = %s AND ST_Intersects("
        "footprint, ST_MakeEnvelope(120.149, 30.279, 120.151, 30.281, 4490))",
        (model["id"],)).fetchone()[0]
    assert bbox["numberMatched"] == with_geometry > 0
    html = client.get(ITEMS, query_string={"f": "html", "limit": 5})
    assert html.status_code == 200 and json.dumps(html.mimetype) and "html" in html.mimetype


def test_raw_upload_takes_its_name_from_content_disposition(client, tok, city_conn):
    """A raw body's name comes as RFC 6266 ``filename*`` (UTF-8, so Chinese names survive
    Latin-1 headers), folders stripped; the model keeps it."""
    other = city_conn.execute("SELECT code FROM sitewatch.project WHERE code <> %s ORDER BY code"
                              " LIMIT 1", (CODE,)).fetchone()[0]
    data = shared_file("sample_ifc_external", "geographic-referencing_IFC4.ifc").read_bytes()
    name = "住宅楼 一期.ifc"
    response = client.post(f"/api/v1/projects/{other}/models", data=data, headers={
        **auth(tok["admin"]), "Content-Type": "application/octet-stream",
        "Content-Disposition": "attachment; filename=\"fallback.ifc\"; "
                               f"filename*=UTF-8''..%2F..%2F{quote(name)}"})
    assert response.status_code == 202, response.get_data(as_text=True)
    model = client.get(f"/api/v1/models/{response.get_json()['model_id']}").get_json()
    assert model["file_name"] == name
    # the plain form, as `curl --data-binary @f -H 'Content-Disposition: …'` sends it
    plain = client.post(f"/api/v1/projects/{other}/models", data=data + b"\n", headers={
        **auth(tok["admin"]), "Content-Disposition": 'attachment; filename="site/v2.ifc"'})
    assert plain.status_code == 202, plain.get_data(as_text=True)
    model = client.get(f"/api/v1/models/{plain.get_json()['model_id']}").get_json()
    assert model["file_name"] == "v2.ifc"
