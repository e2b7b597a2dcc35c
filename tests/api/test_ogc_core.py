"""OGC API Features Part 1 (core, GeoJSON, HTML, OpenAPI 3.0) against the sample city.

Every expected number is computed here in SQL on ``city_conn`` (or from the HTTP bodies
themselves), never by calling the code under test.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from psycopg import sql

from api import create_app
from api.settings import Settings
from spatial.settings import DatabaseSettings

ITEMS = "/ogc/collections/projects/items"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


# -- helpers ----------------------------------------------------------------------------------------

def local(href: str) -> str:
    """An absolute link of the service as a path + query the test client can request."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def query_of(href: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(href).query, keep_blank_values=True).items()}


def links_by_rel(body: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for link in body.get("links", []):
        out.setdefault(link["rel"], []).append(link)
    return out


def get_items(client, collection: str = "projects", **params):
    return client.get(f"/ogc/collections/{collection}/items", query_string=params)


def sql_scalar(conn: psycopg.Connection, query: sql.Composable, params: tuple = ()) -> object:
    return conn.execute(query, params).fetchone()[0]


def sql_codes(conn: psycopg.Connection, where: str = "TRUE", params: tuple = ()) -> set[str]:
    return {r[0] for r in conn.execute(
        sql.SQL("SELECT code FROM sitewatch.project t WHERE {}").format(sql.SQL(where)),
        params).fetchall()}


def assert_exception(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json", response.headers.get("Content-Type")
    body = json.loads(response.get_data(as_text=True))
    assert {"code", "type", "description"} <= body.keys(), body
    assert body["description"]
    return body


# -- landing page, conformance, collections ---------------------------------------------------------

def test_landing_page_links(client):
    response = client.get("/ogc/", query_string={"f": "json"})
    assert response.status_code == 200
    rels = links_by_rel(response.get_json())
    for rel in ("self", "service-desc", "service-doc", "conformance", "data"):
        assert rel in rels, f"landing page has no rel={rel} link: {sorted(rels)}"
    assert OPENAPI_JSON in {link.get("type") for link in rels["service-desc"]}
    assert "text/html" in {link.get("type") for link in rels["service-doc"]}

    # The links lead where they say.
    desc = next(link for link in rels["service-desc"] if link.get("type") == OPENAPI_JSON)
    doc = client.get(local(desc["href"]))
    assert doc.status_code == 200
    assert doc.get_json()["openapi"].startswith("3.0")
    conformance = client.get(local(rels["conformance"][0]["href"]))
    assert "conformsTo" in conformance.get_json()
    data = client.get(local(rels["data"][0]["href"]))
    assert {"projects", "districts"} <= {c["id"] for c in data.get_json()["collections"]}


def _conformance(client) -> set[str]:
    response = client.get("/ogc/conformance", query_string={"f": "json"})
    assert response.status_code == 200
    return set(response.get_json()["conformsTo"])


def test_conformance_declares_part1_and_part2(client):
    declared = _conformance(client)
    part1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    for cls in ("core", "geojson", "oas30", "html"):
        assert part1 + cls in declared
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in declared


def test_conformance_declares_part3_filter_and_cql2(client):
    """The server answers ``filter`` in CQL2 text and JSON, so it must say so (Part 3, CQL2)."""
    declared = _conformance(client)
    expected = {
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    }
    assert not expected - declared, f"missing: {sorted(expected - declared)}"


REQUIRED_CRS = (CRS84, EPSG.format(4490), EPSG.format(4326), EPSG.format(4549))


def test_collections_list_projects_and_districts_with_crs(client):
    response = client.get("/ogc/collections", query_string={"f": "json"})
    assert response.status_code == 200
    by_id = {c["id"]: c for c in response.get_json()["collections"]}
    assert {"projects", "districts"} <= by_id.keys()
    for cid in ("projects", "districts"):
        for info in (by_id[cid], client.get(f"/ogc/collections/{cid}?f=json").get_json()):
            assert set(REQUIRED_CRS) <= set(info["crs"]), (cid, info.get("crs"))
            assert info["storageCrs"] == EPSG.format(4490)
            assert info["itemType"] == "feature"


def test_collection_extent_matches_the_data(client, city_conn):
    info = client.get("/ogc/collections/projects", query_string={"f": "json"}).get_json()
    xmin, ymin, xmax, ymax, start, finish = city_conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), s, f FROM ("
        " SELECT ST_Extent(footprint)::geometry e, min(planned_start) s, max(planned_finish) f"
        " FROM sitewatch.project) q").fetchone()
    bbox = info["extent"]["spatial"]["bbox"][0]
    assert bbox == pytest.approx([xmin, ymin, xmax, ymax], abs=1e-6)
    assert info["extent"]["spatial"].get("crs", CRS84) == CRS84
    # Part 1 (extent.yaml): temporal interval values are RFC 3339 date-times (or null).
    begin, end = info["extent"]["temporal"]["interval"][0]
    for value in (begin, end):
        assert RFC3339.match(value), f"temporal extent {value!r} is not an RFC 3339 date-time"
    assert begin[:10] == start.isoformat() and end[:10] == finish.isoformat()


# -- items: counts, links, paging -------------------------------------------------------------------

BBOX = (120.1, 30.2, 120.3, 30.35)
BBOX_SQL = "ST_Intersects(t.footprint, ST_MakeEnvelope(120.1, 30.2, 120.3, 30.35, 4490))"


@pytest.mark.parametrize(("params", "where"), [
    ({}, "TRUE"),
    ({"bbox": ",".join(map(str, BBOX))}, BBOX_SQL),
    ({"filter": "stage='under_construction'"}, "t.stage = 'under_construction'"),
    ({"bbox": ",".join(map(str, BBOX)), "filter": "investment > 20000"},
     f"{BBOX_SQL} AND t.investment > 20000"),
    ({"stage": "filing"}, "t.stage = 'filing'"),
], ids=["all", "bbox", "filter", "bbox+filter", "property=value"])
def test_number_matched_equals_sql_count(client, city_conn, params, where):
    response = get_items(client, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))
    expected = sql_scalar(city_conn, sql.SQL(
        "SELECT count(*) FROM sitewatch.project t WHERE {}").format(sql.SQL(where)))
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == expected
    assert body["numberReturned"] == len(body["features"]) == min(expected, 10)


def test_items_document_members_and_links(client):
    response = get_items(client, limit=5)
    assert response.status_code == 200
    body = json.loads(response.get_data(as_text=True))
    assert RFC3339.match(body["timeStamp"]), body["timeStamp"]
    rels = links_by_rel(body)
    assert rels["self"][0]["type"] == "application/geo+json"
    assert "text/html" in {link["type"] for link in rels["alternate"]}
    assert rels["collection"]
    self_page = client.get(local(rels["self"][0]["href"]))
    assert [f["id"] for f in json.loads(self_page.get_data(as_text=True))["features"]] == \
        [f["id"] for f in body["features"]]
    html = client.get(local(next(link for link in rels["alternate"]
                                 if link["type"] == "text/html")["href"]))
    assert html.status_code == 200 and html.mimetype == "text/html"
    collection = client.get(local(rels["collection"][0]["href"]))
    assert collection.get_json()["id"] == "projects"


def test_next_link_keeps_every_parameter_and_the_effective_limit(client, city_conn):
    params = {
        "f": "json",
        "filter": "investment > 1000",
        "crs": EPSG.format(4490),
        "bbox": "119.5,29.8,120.8,30.6",
        "sortby": "-investment",
        "properties": "code,name,investment",
    }
    response = get_items(client, **params)  # no limit: the default applies
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))
    assert body["numberMatched"] > 10
    nxt = links_by_rel(body)["next"]
    assert len(nxt) == 1
    query = query_of(nxt[0]["href"])
    for key, value in params.items():
        assert query.get(key) == value, (key, query)
    assert query["limit"] == "10"
    assert query["offset"] == "10"
    second = json.loads(client.get(local(nxt[0]["href"])).get_data(as_text=True))
    expected = [r[0] for r in city_conn.execute(
        "SELECT code FROM sitewatch.project t WHERE investment > 1000 AND ST_Intersects(footprint,"
        " ST_MakeEnvelope(119.5, 29.8, 120.8, 30.6, 4490)) ORDER BY investment DESC, code"
        " LIMIT 10 OFFSET 10").fetchall()]
    assert [f["id"] for f in second["features"]] == expected
    assert all(set(f["properties"]) == {"code", "name", "investment"} for f in second["features"])


def test_paging_with_limit_37_yields_every_project_once(client, city_conn):
    expected = sql_codes(city_conn)
    seen: list[str] = []
    url = f"{ITEMS}?limit=37"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = json.loads(response.get_data(as_text=True))
        assert body["numberMatched"] == len(expected)
        assert body["numberReturned"] == len(body["features"]) <= 37
        seen.extend(f["id"] for f in body["features"])
        pages += 1
        nxt = links_by_rel(body).get("next")
        url = local(nxt[0]["href"]) if nxt else None
        if url:
            assert query_of(url)["limit"] == "37"
        assert pages <= 20, "paging does not end"
    assert pages == math.ceil(len(expected) / 37)
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


# -- limit and parameter validation ------------------------------------------------------------------

def test_default_limit_is_10(client):
    body = json.loads(get_items(client).get_data(as_text=True))
    assert body["numberReturned"] == len(body["features"]) == 10


def test_limit_above_maximum_is_clamped(client, city_conn):
    response = get_items(client, limit=20000, skipGeometry="true")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))
    total = sql_scalar(city_conn, "SELECT count(*) FROM sitewatch.project")
    assert body["numberReturned"] == len(body["features"]) == min(total, 10000)
    assert query_of(links_by_rel(body)["self"][0]["href"])["limit"] == "10000"


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", ""])
def test_bad_limit_is_400(client, limit):
    assert_exception(get_items(client, limit=limit), 400)


@pytest.mark.parametrize("bbox", [
    "120.1,30.2,120.3",          # three numbers
    "a,b,c,d",                    # letters
    "120.1,30.35,120.3,30.2",     # miny > maxy
    "120.1,30.2,120.3,30.35,1",   # five numbers
    "120.1,nan,120.3,30.35",
])
def test_bad_bbox_is_400(client, bbox):
    assert_exception(get_items(client, bbox=bbox), 400)


def test_bbox_with_lower_corner_above_upper_corner_in_projected_crs_is_400(client):
    """minx > maxx.  (In CRS84 that is an antimeridian-crossing box, which Part 1 allows, so the
    inverted box is checked in a projected CRS where it can only be an error.)"""
    response = get_items(client, bbox="3358950,509629,3342288,528843",
                         **{"bbox-crs": EPSG.format(4549)})
    assert_exception(response, 400)


@pytest.mark.parametrize("params", [{"foo": "1"}, {"Limit": "5"}, {"hazardous_works": "x"}])
def test_unknown_query_parameter_is_400(client, params):
    body = assert_exception(get_items(client, **params), 400)
    assert next(iter(params)) in body["description"]


def test_unknown_query_parameter_is_400_in_html_too(client):
    """Part 1, /req/core/query-param-unknown applies to every representation."""
    response = get_items(client, f="html", foo="1")
    assert response.status_code == 400


def test_unknown_collection_is_404(client):
    assert_exception(client.get("/ogc/collections/no-such-thing/items"), 404)
    assert_exception(client.get("/ogc/collections/no-such-thing"), 404)


def test_unknown_feature_is_404_json(client):
    assert_exception(client.get(f"{ITEMS}/no-such-project"), 404)
    assert_exception(client.get(f"{ITEMS}/x%27%3B%20DROP%20TABLE%20x"), 404)


# -- content negotiation -----------------------------------------------------------------------------

@pytest.mark.parametrize("accept", [None, "*/*", "application/geo+json", "application/json"])
def test_accept_gives_geojson(client, accept):
    headers = {"Accept": accept} if accept else {}
    response = client.get(f"{ITEMS}?limit=2", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = json.loads(response.get_data(as_text=True))
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 2


@pytest.mark.parametrize("path", [
    "/ogc/", "/ogc/collections", "/ogc/collections/projects", ITEMS,
    "/ogc/conformance", "/ogc/collections/projects/queryables",
])
@pytest.mark.parametrize("accept", [None, "application/json", BROWSER_ACCEPT])
def test_accept_language_of_qgis_never_500(client, path, accept):
    headers = {"Accept-Language": "en,*"}
    if accept:
        headers["Accept"] = accept
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def test_browser_accept_gives_html_items(client):
    response = client.get(f"{ITEMS}?limit=3", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<html" in page.lower()


def test_html_items_honour_datetime(client):
    """A valid ``datetime`` must not turn the HTML page into an error."""
    response = get_items(client, f="html", datetime="2024-01-01/2024-12-31")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"


# -- OpenAPI -----------------------------------------------------------------------------------------

def _walk_refs(node, path="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield path, value
            else:
                yield from _walk_refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_refs(value, f"{path}/{i}")


def _resolve(doc: dict, ref: str):
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@pytest.fixture(scope="module")
def openapi(app) -> dict:
    response = app.test_client().get("/ogc/openapi", query_string={"f": "json"})
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def test_openapi_is_self_contained(openapi):
    assert re.match(r"^3\.0\.\d+$", openapi["openapi"])
    refs = list(_walk_refs(openapi))
    assert refs
    remote = [(where, ref) for where, ref in refs if not str(ref).startswith("#/")]
    assert not remote, remote[:10]
    unresolved = []
    for where, ref in refs:
        try:
            _resolve(openapi, ref)
        except (KeyError, TypeError):
            unresolved.append((where, ref))
    assert not unresolved, unresolved[:10]


def test_openapi_limit_parameter_bounds(openapi):
    params = openapi["paths"]["/collections/projects/items"]["get"]["parameters"]
    resolved = [_resolve(openapi, p["$ref"]) if "$ref" in p else p for p in params]
    limit = [p for p in resolved if p["name"] == "limit"]
    assert len(limit) == 1
    schema = limit[0]["schema"]
    if "$ref" in schema:
        schema = _resolve(openapi, schema["$ref"])
    assert schema["minimum"] == 1
    assert schema["default"] == 10
    assert schema["maximum"] == 10000


# -- single feature and query options -----------------------------------------------------------------

def test_single_feature_matches_the_row(client, city_conn):
    code, name, stage, investment, district = city_conn.execute(
        "SELECT code, name, stage, investment, district_code FROM sitewatch.project"
        " ORDER BY investment DESC LIMIT 1").fetchone()
    response = client.get(f"{ITEMS}/{code}")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    feature = json.loads(response.get_data(as_text=True))
    assert feature["type"] == "Feature" and feature["id"] == code
    props = feature["properties"]
    assert props["name"] == name and props["stage"] == stage
    assert props["district_code"] == district
    assert props["investment"] == pytest.approx(float(investment), abs=0.005)
    assert feature["geometry"]["type"] == "MultiPolygon"
    rels = links_by_rel(feature)
    assert local(rels["self"][0]["href"]).startswith(f"{ITEMS}/{code}")
    assert client.get(local(rels["collection"][0]["href"])).get_json()["id"] == "projects"


def test_skip_geometry(client):
    body = json.loads(get_items(client, skipGeometry="true", limit=5).get_data(as_text=True))
    assert len(body["features"]) == 5
    assert all(f["geometry"] is None for f in body["features"])
    assert all(f["properties"]["code"] == f["id"] for f in body["features"])


def test_properties_selects_exactly_those_keys(client):
    body = json.loads(get_items(client, properties="code,name", limit=5).get_data(as_text=True))
    assert len(body["features"]) == 5
    for feature in body["features"]:
        assert set(feature["properties"]) == {"code", "name"}
        assert feature["geometry"] is not None


def test_empty_properties_list_is_valid_json_or_400(client):
    response = get_items(client, properties="", limit=2)
    if response.status_code == 400:
        assert_exception(response, 400)
        return
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        pytest.fail(f"properties= gives a 200 that is not JSON ({exc}): {text[:300]}")
    assert all(f["properties"] in ({}, None) for f in body["features"])


def test_sortby_descending_investment(client, city_conn):
    body = json.loads(get_items(client, sortby="-investment", limit=50).get_data(as_text=True))
    investments = [f["properties"]["investment"] for f in body["features"]]
    assert len(investments) == 50
    assert all(a >= b for a, b in zip(investments, investments[1:]))
    expected = [r[0] for r in city_conn.execute(
        "SELECT code FROM sitewatch.project ORDER BY investment DESC, code LIMIT 10").fetchall()]
    assert [f["id"] for f in body["features"][:10]] == expected


def test_sortby_ascending_and_plus_sign(client, city_conn):
    expected = [r[0] for r in city_conn.execute(
        "SELECT code FROM sitewatch.project ORDER BY planned_start, code LIMIT 10").fetchall()]
    for value in ("planned_start", "+planned_start"):
        body = json.loads(get_items(client, sortby=value).get_data(as_text=True))
        assert [f["id"] for f in body["features"]] == expected, value


DATETIME_SQL = ("SELECT count(*) FROM sitewatch.project"
                " WHERE planned_start <= %s AND planned_finish >= %s")


@pytest.mark.parametrize("interval", [
    "2024-01-01/2024-12-31", "2024-06-01/2024-06-30", "2021-03-01/2021-03-31",
])
def test_datetime_interval_overlaps_planned_period(client, city_conn, interval):
    start, end = interval.split("/")
    expected = sql_scalar(city_conn, DATETIME_SQL, (end, start))
    response = get_items(client, datetime=interval, limit=1)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.get_data(as_text=True))["numberMatched"] == expected


def test_datetime_half_open_intervals(client, city_conn):
    after = sql_scalar(city_conn, "SELECT count(*) FROM sitewatch.project"
                                  " WHERE planned_finish >= '2026-01-01'")
    before = sql_scalar(city_conn, "SELECT count(*) FROM sitewatch.project"
                                   " WHERE planned_start <= '2019-12-31'")
    for value, expected in (("2026-01-01/..", after), ("../2019-12-31", before)):
        body = json.loads(get_items(client, datetime=value, limit=1).get_data(as_text=True))
        assert body["numberMatched"] == expected, value


@pytest.fixture(scope="module")
def shanghai_client(app, city_url):
    """The same service on a PostgreSQL session in China's time zone (a server installed in
    Hangzhou runs with TimeZone=Asia/Shanghai; the private cluster inherits it from initdb)."""
    from spatial import ogc_provider

    info = psycopg.conninfo.conninfo_to_dict(city_url)
    info["options"] = "-c TimeZone=Asia/Shanghai"
    settings = app.config["SITEWATCH_SETTINGS"]
    other = create_app(Settings(
        app=settings.app,
        database=DatabaseSettings(database_url=psycopg.conninfo.make_conninfo(**info),
                                  data=settings.database.data)))
    other.config["TESTING"] = True
    yield other.test_client()
    # pygeoapi's provider pool is process-wide: give it back to the session app.
    ogc_provider.configure(app.extensions["sitewatch_pool"])
    other.extensions["sitewatch_pool"].close()


@pytest.mark.parametrize("interval", ["2024-06-01/2024-06-30", "2024-01-01/2024-12-31"])
def test_datetime_does_not_depend_on_the_server_time_zone(shanghai_client, city_conn, interval):
    start, end = interval.split("/")
    expected = sql_scalar(city_conn, DATETIME_SQL, (end, start))
    response = shanghai_client.get(ITEMS, query_string={"datetime": interval, "limit": 1})
    assert response.status_code == 200
    assert json.loads(response.get_data(as_text=True))["numberMatched"] == expected


def test_bad_datetime_is_400(client):
    for value in ("garbage", "2024-13-01", "2024-12-31/2024-01-01", "../.."):
        assert_exception(get_items(client, datetime=value), 400)
