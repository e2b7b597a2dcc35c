"""REST API for the project ledger: bearer tokens, roles, validation, and the one-click export.

Tokens are made with ``spatial.tokens.create`` on the sample-city database and removed at the end;
every project a test creates is deleted again (by SQL, whatever the API did).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from openpyxl import load_workbook

from spatial import tokens

API = "/api/v1/projects"
ITEMS = "/ogc/collections/projects/items"
LABEL = "tests/api/test_projects_api"
DISTRICT = "330106"  # 西湖区
PREFIX = "TESTAPI-"


# -- fixtures -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def parties(city_conn) -> dict[str, str]:
    """One existing enterprise per party role (credit codes from the enterprise table)."""
    out = {}
    for field, role in (("construction_unit", "construction"), ("contractor_unit", "contractor"),
                        ("supervision_unit", "supervision")):
        out[field] = city_conn.execute(
            "SELECT credit_code FROM sitewatch.enterprise WHERE %s = ANY(roles)"
            " ORDER BY credit_code LIMIT 1", (role,)).fetchone()[0]
    return out


@pytest.fixture(scope="module")
def outsider(city_conn, parties) -> str:
    """An enterprise that is party to nothing we create."""
    return city_conn.execute(
        "SELECT credit_code FROM sitewatch.enterprise WHERE credit_code <> ALL(%s)"
        " ORDER BY credit_code DESC LIMIT 1", (list(parties.values()),)).fetchone()[0]


@pytest.fixture(scope="module")
def tok(city_conn, parties, outsider):
    made = {
        "admin": tokens.create(city_conn, role="admin", label=LABEL),
        "gateway": tokens.create(city_conn, role="gateway", label=LABEL),
        "supervisor": tokens.create(city_conn, role="supervisor", scope=DISTRICT, label=LABEL),
        "other_supervisor": tokens.create(city_conn, role="supervisor", scope="330102",
                                          label=LABEL),
        "party": tokens.create(city_conn, role="enterprise", scope=parties["contractor_unit"],
                               label=LABEL),
        "outsider": tokens.create(city_conn, role="enterprise", scope=outsider, label=LABEL),
    }
    yield made
    city_conn.execute("DELETE FROM sitewatch.api_token WHERE label = %s", (LABEL,))


@pytest.fixture(scope="module")
def footprint(city_conn) -> dict:
    """A valid ~100 m square well inside the district (CRS84 lon/lat)."""
    x, y = city_conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM sitewatch.district"
        " WHERE code = %s) s", (DISTRICT,)).fetchone()
    d = 0.001
    return {"type": "Polygon",
            "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


@pytest.fixture
def body(footprint, parties, request) -> dict:
    code = PREFIX + request.node.name.split("[")[-1].strip("]")[:20].replace("_", "-")
    return {
        "code": code, "name": "测试住宅项目", "district_code": DISTRICT, "type": "housing",
        "stage": "construction_permit", "permit_no": f"{DISTRICT}202403150101",
        "investment": 12345.67, "floor_area": 8800.5, "storeys": 18,
        "planned_start": "2024-04-01", "planned_finish": "2026-03-31",
        "geometry": footprint, **parties,
    }


@pytest.fixture(autouse=True)
def cleanup(city_conn):
    yield
    city_conn.execute("DELETE FROM sitewatch.project WHERE code LIKE %s", (PREFIX + "%",))


def project_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM sitewatch.project").fetchone()[0]


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def assert_exception(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = json.loads(response.get_data(as_text=True))
    assert {"code", "type", "description"} <= body.keys(), body
    return body


# -- authentication and roles ---------------------------------------------------------------------------

def test_post_without_token_is_401(client, city_conn, body):
    before = project_count(city_conn)
    response = client.post(API, json=body)
    err = assert_exception(response, 401)
    assert err["code"] == "Unauthorized"
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer")
    assert project_count(city_conn) == before


@pytest.mark.parametrize("header", ["Bearer sw_not-a-real-token", "Bearer ", "Basic YWRtaW46YWRtaW4=",
                                    "sw_no_scheme"])
def test_post_with_bad_token_is_401(client, city_conn, body, header):
    before = project_count(city_conn)
    assert_exception(client.post(API, json=body, headers={"Authorization": header}), 401)
    assert project_count(city_conn) == before


def test_revoked_token_is_401(client, city_conn, body):
    token = tokens.create(city_conn, role="admin", label=LABEL)
    token_id = city_conn.execute("SELECT max(id) FROM sitewatch.api_token WHERE label = %s",
                                 (LABEL,)).fetchone()[0]
    city_conn.execute("UPDATE sitewatch.api_token SET revoked_at = now() WHERE id = %s",
                      (token_id,))
    try:
        assert_exception(client.post(API, json=body, headers=bearer(token)), 401)
    finally:
        city_conn.execute("DELETE FROM sitewatch.api_token WHERE id = %s", (token_id,))


def test_gateway_token_may_not_create(client, city_conn, tok, body):
    before = project_count(city_conn)
    err = assert_exception(client.post(API, json=body, headers=bearer(tok["gateway"])), 403)
    assert err["code"] == "Forbidden"
    assert project_count(city_conn) == before


def test_project_lifecycle(client, city_conn, tok, body, parties):
    code = body["code"]
    before = project_count(city_conn)

    created = client.post(API, json=body, headers=bearer(tok["admin"]))
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.headers["Location"].endswith(f"{API}/{code}")
    assert created.get_json()["code"] == code
    assert project_count(city_conn) == before + 1
    row = city_conn.execute(
        "SELECT name, stage, investment, district_code, contractor_unit,"
        " ST_Area(footprint::geography) FROM sitewatch.project WHERE code = %s",
        (code,)).fetchone()
    assert (row[0], row[1], row[3], row[4]) == (body["name"], body["stage"], DISTRICT,
                                                parties["contractor_unit"])
    assert float(row[2]) == pytest.approx(body["investment"])
    assert 5_000 < row[5] < 15_000  # ~96 m x 111 m

    # It is in the OGC feed at once, with the same values.
    feature = json.loads(client.get(f"{ITEMS}/{code}").get_data(as_text=True))
    assert feature["properties"]["name"] == body["name"]
    assert feature["properties"]["investment"] == pytest.approx(body["investment"])
    listed = json.loads(client.get(ITEMS, query_string={"code": code}).get_data(as_text=True))
    assert [f["id"] for f in listed["features"]] == [code]

    # A supervisor of the district may change it; one of another district may not.
    patched = client.patch(f"{API}/{code}", json={"stage": "under_construction",
                                                  "image_progress": "基础施工"},
                           headers=bearer(tok["supervisor"]))
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert city_conn.execute("SELECT stage, image_progress FROM sitewatch.project WHERE code = %s",
                             (code,)).fetchone() == ("under_construction", "基础施工")
    history = {r[0] for r in city_conn.execute(
        "SELECT h.stage FROM sitewatch.project_stage_history h JOIN sitewatch.project p"
        " ON p.id = h.project_id WHERE p.code = %s", (code,)).fetchall()}
    assert {"construction_permit", "under_construction"} <= history
    assert_exception(client.patch(f"{API}/{code}", json={"name": "x"},
                                  headers=bearer(tok["other_supervisor"])), 403)

    # An enterprise that is a party may report site facts; one that is not may not.
    ok = client.patch(f"{API}/{code}", json={"image_progress": "主体结构施工"},
                      headers=bearer(tok["party"]))
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert_exception(client.patch(f"{API}/{code}", json={"name": "改名"},
                                  headers=bearer(tok["party"])), 403)
    assert_exception(client.patch(f"{API}/{code}", json={"image_progress": "x"},
                                  headers=bearer(tok["outsider"])), 403)
    assert city_conn.execute("SELECT name, image_progress FROM sitewatch.project WHERE code = %s",
                             (code,)).fetchone() == (body["name"], "主体结构施工")

    # Only an admin deletes.
    assert_exception(client.delete(f"{API}/{code}", headers=bearer(tok["supervisor"])), 403)
    deleted = client.delete(f"{API}/{code}", headers=bearer(tok["admin"]))
    assert deleted.status_code == 204
    assert project_count(city_conn) == before
    assert_exception(client.get(f"{API}/{code}"), 404)
    assert_exception(client.get(f"{ITEMS}/{code}"), 404)
    assert_exception(client.delete(f"{API}/{code}", headers=bearer(tok["admin"])), 404)


def test_supervisor_of_another_district_may_not_create(client, city_conn, tok, body):
    before = project_count(city_conn)
    assert_exception(client.post(API, json=body, headers=bearer(tok["other_supervisor"])), 403)
    assert project_count(city_conn) == before


# -- validation ---------------------------------------------------------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def well_formed_credit_code(first17: str) -> str:
    """Append the GB 32100 check character (written out here, not taken from spatial.codes)."""
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS))
    return first17 + CREDIT_ALPHABET[(31 - total % 31) % 31]


UNREGISTERED = well_formed_credit_code("91330106MA0000001")


def _bowtie(footprint: dict) -> dict:
    (a, b, c, d, _) = footprint["coordinates"][0]
    return {"type": "Polygon", "coordinates": [[a, c, b, d, a]]}  # edges a-c and b-d cross


INVALID = {
    "credit-code": ("construction_unit", lambda b, fp: {**b, "construction_unit":
                                                        b["construction_unit"][:-1] + (
                                                            "0" if b["construction_unit"][-1] != "0"
                                                            else "1")}),
    "permit-no": ("permit_no", lambda b, fp: {**b, "permit_no": "33010620241399"}),
    "permit-date": ("permit_no", lambda b, fp: {**b, "permit_no": "330106202413150101"}),
    "district": ("district_code", lambda b, fp: {**b, "district_code": "330199"}),
    "bowtie": ("geometry", lambda b, fp: {**b, "geometry": _bowtie(fp)}),
    "open-ring": ("geometry", lambda b, fp: {**b, "geometry": {
        "type": "Polygon", "coordinates": [fp["coordinates"][0][:4]]}}),
    "empty-polygon": ("geometry", lambda b, fp: {**b, "geometry": {
        "type": "Polygon", "coordinates": []}}),
    "no-coordinates": ("geometry", lambda b, fp: {**b, "geometry": {"type": "Polygon"}}),
    "point": ("geometry", lambda b, fp: {**b, "geometry": {
        "type": "Point", "coordinates": fp["coordinates"][0][0]}}),
    "stage": ("stage", lambda b, fp: {**b, "stage": "demolished"}),
    "dates": ("planned_finish", lambda b, fp: {**b, "planned_finish": "2020-01-01"}),
    "unknown-enterprise": ("contractor_unit",
                           lambda b, fp: {**b, "contractor_unit": UNREGISTERED}),
    "missing-name": ("name", lambda b, fp: {k: v for k, v in b.items() if k != "name"}),
    "nul-in-name": ("name", lambda b, fp: {**b, "name": "测试\x00项目"}),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_body_is_422_and_writes_nothing(client, city_conn, tok, body, footprint, case):
    field, make = INVALID[case]
    payload = make(body, footprint)
    before = project_count(city_conn)
    response = client.post(API, json=payload, headers=bearer(tok["admin"]))
    err = assert_exception(response, 422)
    assert isinstance(err.get("errors"), list) and err["errors"], err
    fields = {e["field"].split(".")[0] for e in err["errors"]}
    assert field in fields, err["errors"]
    assert project_count(city_conn) == before
    assert city_conn.execute("SELECT count(*) FROM sitewatch.project WHERE code = %s",
                             (body["code"],)).fetchone()[0] == 0


def test_unregistered_credit_code_is_well_formed_but_unknown(city_conn, parties):
    assert well_formed_credit_code("91330100716105852") == "91330100716105852F"  # published
    assert all(well_formed_credit_code(c[:17]) == c for c in parties.values())
    assert city_conn.execute("SELECT count(*) FROM sitewatch.enterprise WHERE credit_code = %s",
                             (UNREGISTERED,)).fetchone()[0] == 0


def test_invalid_patch_is_422_and_changes_nothing(client, city_conn, tok):
    code, name, permit = city_conn.execute(
        "SELECT code, name, permit_no FROM sitewatch.project ORDER BY code LIMIT 1").fetchone()
    response = client.patch(f"{API}/{code}", json={"name": "新名称", "permit_no": "123"},
                            headers=bearer(tok["admin"]))
    err = assert_exception(response, 422)
    assert "permit_no" in {e["field"] for e in err["errors"]}
    assert city_conn.execute("SELECT name, permit_no FROM sitewatch.project WHERE code = %s",
                             (code,)).fetchone() == (name, permit)


def test_body_that_is_not_json_is_400(client, tok):
    response = client.post(API, data="code=1", content_type="application/x-www-form-urlencoded",
                           headers=bearer(tok["admin"]))
    assert_exception(response, 400)


# -- export --------------------------------------------------------------------------------------------

EXPORT_TYPES = {
    "csv": "text/csv",
    "geojson": "application/geo+json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpkg": "application/geopackage+sqlite3",
}


def _codes_in(fmt: str, data: bytes, tmp_path) -> list[str]:
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        return [r[0] for r in rows[1:] if r]
    if fmt == "geojson":
        doc = json.loads(data)
        assert doc["type"] == "FeatureCollection"
        assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in doc["features"])
        return [f["id"] for f in doc["features"]]
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        return [r[0] for r in sheet.iter_rows(min_row=2, values_only=True) if r and r[0]]
    path = tmp_path / "export.gpkg"
    path.write_bytes(data)
    with sqlite3.connect(path) as db:
        table = db.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'"
                           ).fetchone()[0]
        quoted = '"' + table.replace('"', '""') + '"'  # a GeoPackage table name, not ours to bind
        return [r[0] for r in db.execute("SELECT code FROM " + quoted).fetchall()]


@pytest.mark.parametrize("fmt", list(EXPORT_TYPES))
def test_export(client, city_conn, fmt, tmp_path):
    expected = {r[0] for r in city_conn.execute("SELECT code FROM sitewatch.project").fetchall()}
    assert len(expected) >= 300
    response = client.get(f"{API}/export", query_string={"format": fmt})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == EXPORT_TYPES[fmt]
    content_type = response.headers["Content-Type"]
    assert content_type.lower().count("charset") <= 1, f"malformed Content-Type: {content_type}"
    disposition = response.headers.get("Content-Disposition", "")
    assert "attachment" in disposition and disposition.rstrip('"').endswith(f".{fmt}")
    codes = _codes_in(fmt, response.data, tmp_path)
    assert len(codes) == len(expected)
    assert set(codes) == expected


def test_export_unknown_format_is_400(client):
    assert_exception(client.get(f"{API}/export", query_string={"format": "shp.zip"}), 400)
