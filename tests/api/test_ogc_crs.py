"""OGC API Features Part 2 (coordinate reference systems by reference).

Expected coordinates come from pyproj, with the authority's axis order (no ``always_xy``):
EPSG:4326 and EPSG:4490 are (lat, lon), the CGCS2000 Gauss-Krüger zones (northing, easting).
Expected id sets come from SQL on ``city_conn``.
"""

from __future__ import annotations

import json

import pytest
from pyproj import Transformer

ITEMS = "/ogc/collections/projects/items"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def first_coordinate(geometry: dict) -> list[float]:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return coords


@pytest.fixture(scope="module")
def known_project(city_conn) -> tuple[str, float, float]:
    """(code, lon, lat) of the first vertex of a project's footprint, at full precision."""
    return city_conn.execute(
        "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointN(ST_ExteriorRing("
        "ST_GeometryN(footprint, 1)), 1) AS p FROM sitewatch.project ORDER BY code LIMIT 1) s"
    ).fetchone()


# (crs parameter as sent, its URI, EPSG code or None for CRS84, tolerance in output units)
CASES = [
    (CRS84, CRS84, None, 1e-6),
    ("http://www.opengis.net/def/crs/EPSG/0/4326", EPSG.format(4326), 4326, 1e-6),
    ("EPSG:4326", EPSG.format(4326), 4326, 1e-6),
    (EPSG.format(4490), EPSG.format(4490), 4490, 1e-6),
    (EPSG.format(4549), EPSG.format(4549), 4549, 0.01),   # CGCS2000 GK CM 120E (Hangzhou)
    (EPSG.format(4550), EPSG.format(4550), 4550, 0.01),   # CGCS2000 GK CM 123E
]
IDS = ["CRS84", "4326-uri", "4326-curie", "4490", "4549", "4550"]


def expected_first(known_project, epsg: int | None) -> tuple[float, float]:
    _, lon, lat = known_project
    if epsg is None:
        return lon, lat
    return Transformer.from_crs("OGC:CRS84", f"EPSG:{epsg}").transform(lon, lat)


@pytest.mark.parametrize(("crs", "uri", "epsg", "tol"), CASES, ids=IDS)
def test_items_in_requested_crs(client, known_project, crs, uri, epsg, tol):
    code = known_project[0]
    response = client.get(ITEMS, query_string={"crs": crs, "code": code})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers.get("Content-Crs") == f"<{uri}>"
    body = json.loads(response.get_data(as_text=True))
    assert [f["id"] for f in body["features"]] == [code]
    got = first_coordinate(body["features"][0]["geometry"])
    assert got == pytest.approx(expected_first(known_project, epsg), abs=tol)


@pytest.mark.parametrize(("crs", "uri", "epsg", "tol"), CASES, ids=IDS)
def test_single_feature_in_requested_crs(client, known_project, crs, uri, epsg, tol):
    code = known_project[0]
    response = client.get(f"{ITEMS}/{code}", query_string={"crs": crs})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers.get("Content-Crs") == f"<{uri}>"
    feature = json.loads(response.get_data(as_text=True))
    got = first_coordinate(feature["geometry"])
    assert got == pytest.approx(expected_first(known_project, epsg), abs=tol)


def test_default_crs_is_crs84(client, known_project):
    code, lon, lat = known_project
    for path in (f"{ITEMS}?code={code}", f"{ITEMS}/{code}"):
        response = client.get(path)
        assert response.headers.get("Content-Crs") == f"<{CRS84}>"
        body = json.loads(response.get_data(as_text=True))
        geometry = body["features"][0]["geometry"] if "features" in body else body["geometry"]
        assert first_coordinate(geometry) == pytest.approx([lon, lat], abs=1e-6)


def test_gauss_kruger_output_is_northing_first(client, known_project):
    """Hangzhou is ~3.35e6 m north of the equator and ~500 km false easting in zone CM 120E."""
    code = known_project[0]
    feature = json.loads(client.get(f"{ITEMS}/{code}",
                                    query_string={"crs": EPSG.format(4549)}).get_data(as_text=True))
    northing, easting = first_coordinate(feature["geometry"])
    assert 3.2e6 < northing < 3.5e6
    assert 3.5e5 < easting < 6.5e5


@pytest.mark.parametrize("crs", [EPSG.format(3857), "EPSG:3857", "garbage",
                                 EPSG.format(4533), EPSG.format(4555), "EPSG:4490x"])
def test_unsupported_crs_is_400(client, known_project, crs):
    for path in (ITEMS, f"{ITEMS}/{known_project[0]}"):
        response = client.get(path, query_string={"crs": crs})
        assert response.status_code == 400, (path, crs)
        body = json.loads(response.get_data(as_text=True))
        assert {"code", "type", "description"} <= body.keys()


# -- bbox-crs -------------------------------------------------------------------------------------

BBOX = (120.1, 30.2, 120.3, 30.35)  # CRS84 lon/lat


def api_ids(client, **params) -> set[str]:
    response = client.get(ITEMS, query_string={**params, "limit": 10000, "skipGeometry": "true",
                                               "properties": "code"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))
    assert body["numberReturned"] == body["numberMatched"]
    return {f["id"] for f in body["features"]}


@pytest.fixture(scope="module")
def crs84_expected(city_conn) -> set[str]:
    rows = city_conn.execute(
        "SELECT code FROM sitewatch.project WHERE ST_Intersects(footprint,"
        " ST_MakeEnvelope(%s, %s, %s, %s, 4490))", BBOX).fetchall()
    codes = {r[0] for r in rows}
    assert 10 < len(codes) < 300, "the test box should select some but not all projects"
    return codes


def test_bbox_in_crs84(client, crs84_expected):
    assert api_ids(client, bbox=",".join(map(str, BBOX))) == crs84_expected
    assert api_ids(client, bbox=",".join(map(str, BBOX)), **{"bbox-crs": CRS84}) == crs84_expected


def test_bbox_in_epsg_4490_is_lat_lon(client, crs84_expected):
    x1, y1, x2, y2 = BBOX
    bbox = f"{y1},{x1},{y2},{x2}"  # EPSG:4490 axis order: latitude first
    assert api_ids(client, bbox=bbox, **{"bbox-crs": EPSG.format(4490)}) == crs84_expected
    assert api_ids(client, bbox=bbox, **{"bbox-crs": "EPSG:4490"}) == crs84_expected


def test_bbox_in_gauss_kruger_is_northing_easting(client, city_conn, crs84_expected):
    to_gk = Transformer.from_crs("OGC:CRS84", "EPSG:4549")
    corners = [to_gk.transform(x, y) for x in (BBOX[0], BBOX[2]) for y in (BBOX[1], BBOX[3])]
    n1 = min(c[0] for c in corners)
    e1 = min(c[1] for c in corners)
    n2 = max(c[0] for c in corners)
    e2 = max(c[1] for c in corners)
    # The projected rectangle is not exactly the geographic one; make sure no project sits in
    # the sliver between them, so that both boxes must select the same set.
    in_gk_box = {r[0] for r in city_conn.execute(
        "SELECT code FROM sitewatch.project WHERE ST_Intersects(footprint, ST_Transform("
        "ST_Segmentize(ST_MakeEnvelope(%s, %s, %s, %s, 4549), 50), 4490))",
        (e1, n1, e2, n2)).fetchall()}
    assert in_gk_box == crs84_expected, "pick another test box: the sliver holds a project"
    got = api_ids(client, bbox=f"{n1},{e1},{n2},{e2}", **{"bbox-crs": EPSG.format(4549)})
    assert got == crs84_expected


def test_bbox_crs_and_output_crs_together(client, crs84_expected):
    x1, y1, x2, y2 = BBOX
    response = client.get(ITEMS, query_string={
        "bbox": f"{y1},{x1},{y2},{x2}", "bbox-crs": EPSG.format(4490),
        "crs": EPSG.format(4490), "limit": 1000})
    assert response.status_code == 200
    assert response.headers["Content-Crs"] == f"<{EPSG.format(4490)}>"
    body = json.loads(response.get_data(as_text=True))
    assert {f["id"] for f in body["features"]} == crs84_expected
    for feature in body["features"]:
        lat, lon = first_coordinate(feature["geometry"])
        assert 29 < lat < 31.5 and 118 < lon < 122


def test_bbox_crs_without_bbox_is_400(client):
    response = client.get(ITEMS, query_string={"bbox-crs": EPSG.format(4490)})
    assert response.status_code == 400
    assert {"code", "type", "description"} <= json.loads(response.get_data(as_text=True)).keys()


@pytest.mark.parametrize("bbox_crs", [EPSG.format(3857), "nonsense", EPSG.format(2000)])
def test_unsupported_bbox_crs_is_400(client, bbox_crs):
    response = client.get(ITEMS, query_string={"bbox": "1,2,3,4", "bbox-crs": bbox_crs})
    assert response.status_code == 400
    assert {"code", "type", "description"} <= json.loads(response.get_data(as_text=True)).keys()
