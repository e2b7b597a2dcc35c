"""OGC API Features Part 3 (queryables, filter) and CQL2 text/JSON, with the SQL count of the
same condition written by hand as the expected value.  Also: hostile input never reaches SQL."""

from __future__ import annotations

import json

import pytest
from psycopg import sql

ITEMS = "/ogc/collections/projects/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
# Text of PostgreSQL/PostGIS/psycopg errors (the request's own words may be echoed back).
SQL_ERROR_TEXT = ("syntax error at", "psycopg", "sqlstate", "postgresql", "does not exist",
                  "traceback", "error:  ", "hint:", "context:", "geos", "internal server error",
                  "unnamed portal")


def count(conn, where: str, params: tuple = ()) -> int:
    # ``where`` is this test's own expected-value SQL, never request text
    query = sql.SQL("SELECT count(*) FROM sitewatch.project t WHERE {}").format(sql.SQL(where))
    return conn.execute(query, params).fetchone()[0]


def matched(client, **params) -> int:
    response = client.get(ITEMS, query_string={**params, "limit": 1, "skipGeometry": "true"})
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    return json.loads(response.get_data(as_text=True))["numberMatched"]


def ids(client, **params) -> set[str]:
    response = client.get(ITEMS, query_string={**params, "limit": 10000, "skipGeometry": "true",
                                               "properties": "code"})
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    body = json.loads(response.get_data(as_text=True))
    assert body["numberReturned"] == body["numberMatched"]
    return {f["id"] for f in body["features"]}


def sql_ids(conn, where: str) -> set[str]:
    return {r[0] for r in conn.execute(
        sql.SQL("SELECT code FROM sitewatch.project t WHERE {}").format(sql.SQL(where))
    ).fetchall()}


def assert_clean_400(response) -> dict:
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text[:400]
    body = json.loads(text)
    assert {"code", "type", "description"} <= body.keys()
    lowered = text.lower()
    leaked = [t for t in SQL_ERROR_TEXT if t in lowered]
    assert not leaked, f"the error leaks database text {leaked}: {text[:400]}"
    return body


# -- queryables ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def queryables(app) -> dict:
    response = app.test_client().get("/ogc/collections/projects/queryables",
                                     query_string={"f": "json"})
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def test_queryables_list_the_filterable_properties(queryables):
    props = queryables["properties"]
    for name in ("code", "name", "stage", "type", "district_code", "investment", "storeys",
                 "planned_start", "planned_finish"):
        assert name in props, name
    assert props["investment"]["type"] == "number"
    assert props["storeys"]["type"] == "integer"
    assert props["planned_start"].get("format") == "date"


def test_queryables_do_not_list_hazardous_works(queryables):
    """hazardous_works is not queryable (a filter on it is rejected), so it must not be offered."""
    assert "hazardous_works" not in queryables["properties"]


def test_every_listed_queryable_can_be_filtered(client, queryables):
    for name in queryables["properties"]:
        if name == "geometry":
            continue
        response = client.get(ITEMS, query_string={"filter": f"{name} IS NULL", "limit": 1})
        assert response.status_code == 200, (name, response.get_data(as_text=True)[:300])


# -- CQL2 text ---------------------------------------------------------------------------------------

POLYGON = "POLYGON((120.1 30.2, 120.3 30.2, 120.3 30.35, 120.1 30.35, 120.1 30.2))"
ENVELOPE_SQL = "ST_MakeEnvelope(120.1, 30.2, 120.3, 30.35, 4490)"

TEXT_CASES = [
    ("stage='under_construction' AND investment > 50000",
     "stage = 'under_construction' AND investment > 50000"),
    ("stage <> 'filing'", "stage <> 'filing'"),
    ("NOT (stage = 'filing') AND storeys >= 20", "NOT (stage = 'filing') AND storeys >= 20"),
    ("investment > 50000 OR stage = 'filing'", "investment > 50000 OR stage = 'filing'"),
    ("name LIKE '%综合体%'", "name LIKE '%%综合体%%'"),
    ("name LIKE '_城区%'", "name LIKE '_城区%%'"),
    ("stage IN ('filing', 'tendering')", "stage IN ('filing', 'tendering')"),
    ("stage NOT IN ('filing', 'tendering')", "stage NOT IN ('filing', 'tendering')"),
    ("investment BETWEEN 10000 AND 50000", "investment BETWEEN 10000 AND 50000"),
    ("key_livelihood IS NULL", "key_livelihood IS NULL"),
    ("key_livelihood IS NOT NULL", "key_livelihood IS NOT NULL"),
    (f"S_INTERSECTS(geometry, {POLYGON})", f"ST_Intersects(footprint, {ENVELOPE_SQL})"),
    (f"S_WITHIN(geometry, {POLYGON})", f"ST_Within(footprint, {ENVELOPE_SQL})"),
    ("S_INTERSECTS(geometry, BBOX(120.1, 30.2, 120.3, 30.35))",
     f"ST_Intersects(footprint, {ENVELOPE_SQL})"),
    ("T_AFTER(planned_start, DATE('2023-06-15'))", "planned_start > DATE '2023-06-15'"),
    ("T_BEFORE(planned_start, DATE('2023-06-15'))", "planned_start < DATE '2023-06-15'"),
    ("T_INTERSECTS(planned_start, INTERVAL('2021-01-01', '2021-12-31'))",
     "planned_start BETWEEN DATE '2021-01-01' AND DATE '2021-12-31'"),
    ("T_INTERSECTS(planned_start, INTERVAL('..', '2020-06-30'))",
     "planned_start <= DATE '2020-06-30'"),
    ("CASEI(name) LIKE CASEI('%综合体%')", "lower(name) LIKE lower('%%综合体%%')"),
    ("CASEI(construction_unit) LIKE CASEI('%Ma3%')", "lower(construction_unit) LIKE '%%ma3%%'"),
    ("CASEI(contractor_unit) = CASEI('91330112ma83466351')",
     "lower(contractor_unit) = '91330112ma83466351'"),
    ("(investment * 2) > 100000", "investment * 2 > 100000"),
    ("stage = 'filing' AND TRUE", "stage = 'filing'"),
    ("stage = 'filing' OR FALSE", "stage = 'filing'"),
]


@pytest.mark.parametrize(("cql", "where"), TEXT_CASES, ids=[c[0][:40] for c in TEXT_CASES])
def test_cql2_text_matches_sql(client, city_conn, cql, where):
    expected = count(city_conn, where)
    assert matched(client, filter=cql) == expected
    assert matched(client, filter=cql, **{"filter-lang": "cql2-text"}) == expected


def test_filter_combines_with_bbox_and_property_parameters(client, city_conn):
    expected = count(city_conn, "investment > 20000 AND district_code = '330106' AND"
                                " ST_Intersects(footprint,"
                                " ST_MakeEnvelope(119.5, 29.8, 120.8, 30.6, 4490))")
    assert matched(client, filter="investment > 20000", district_code="330106",
                   bbox="119.5,29.8,120.8,30.6") == expected


def test_filter_crs_epsg_4490_is_lat_lon(client, city_conn):
    lat_lon = "POLYGON((30.2 120.1, 30.2 120.3, 30.35 120.3, 30.35 120.1, 30.2 120.1))"
    expected = sql_ids(city_conn, f"ST_Intersects(footprint, {ENVELOPE_SQL})")
    got = ids(client, filter=f"S_INTERSECTS(geometry, {lat_lon})",
              **{"filter-crs": EPSG.format(4490)})
    assert got == expected


# -- CQL2 JSON ---------------------------------------------------------------------------------------

STAGE_AND_INVESTMENT = {"op": "and", "args": [
    {"op": "=", "args": [{"property": "stage"}, "under_construction"]},
    {"op": ">", "args": [{"property": "investment"}, 50000]},
]}


def test_cql2_json_equals_text_form(client, city_conn):
    text = ids(client, filter="stage='under_construction' AND investment > 50000")
    as_json = ids(client, filter=json.dumps(STAGE_AND_INVESTMENT), **{"filter-lang": "cql2-json"})
    assert as_json == text
    assert text == sql_ids(city_conn, "stage = 'under_construction' AND investment > 50000")


JSON_CASES = [
    ({"op": "in", "args": [{"property": "stage"}, ["filing", "tendering"]]},
     "stage IN ('filing', 'tendering')"),
    ({"op": "like", "args": [{"property": "name"}, "%综合体%"]}, "name LIKE '%%综合体%%'"),
    ({"op": "isNull", "args": [{"property": "key_livelihood"}]}, "key_livelihood IS NULL"),
    ({"op": "s_intersects", "args": [{"property": "geometry"},
                                     {"bbox": [120.1, 30.2, 120.3, 30.35]}]},
     f"ST_Intersects(footprint, {ENVELOPE_SQL})"),
    ({"op": "s_intersects", "args": [{"property": "geometry"}, {
        "type": "Polygon",
        "coordinates": [[[120.1, 30.2], [120.3, 30.2], [120.3, 30.35], [120.1, 30.35],
                         [120.1, 30.2]]]}]},
     f"ST_Intersects(footprint, {ENVELOPE_SQL})"),
    ({"op": "t_after", "args": [{"property": "planned_start"}, {"date": "2022-01-01"}]},
     "planned_start > DATE '2022-01-01'"),
    ({"op": "between", "args": [{"property": "investment"}, 10000, 50000]},
     "investment BETWEEN 10000 AND 50000"),
]


@pytest.mark.parametrize(("expr", "where"), JSON_CASES, ids=[c[0]["op"] for c in JSON_CASES])
def test_cql2_json_matches_sql(client, city_conn, expr, where):
    got = ids(client, filter=json.dumps(expr, ensure_ascii=False),
              **{"filter-lang": "cql2-json"})
    assert got == sql_ids(city_conn, where)


# -- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"filter": "nosuch = 1"},
    {"filter": "hazardous_works IS NULL"},
    {"filter": json.dumps({"op": "=", "args": [{"property": "nosuch"}, 1]}),
     "filter-lang": "cql2-json"},
], ids=["text", "not-queryable", "json"])
def test_unknown_property_in_filter_is_400(client, params):
    assert_clean_400(client.get(ITEMS, query_string=params))


@pytest.mark.parametrize("cql", [
    "investment = 'abc'",
    "footprint_estimated = 'yes'",
    "planned_start > 'garbage'",
    "T_AFTER(name, DATE('2024-01-01'))",
    "name LIKE 5",
    "S_INTERSECTS(name, POINT(120 30))",
])
def test_type_mismatch_in_filter_is_400(client, cql):
    assert_clean_400(client.get(ITEMS, query_string={"filter": cql}))


@pytest.mark.parametrize(("params"), [
    {"filter": "stage = "},
    {"filter": "stage === 'x' AND"},
    {"filter": "(stage = 'filing'"},
    {"filter": "S_INTERSECTS(geometry, POLYGON((120 30, 121 30)"},
    {"filter": "planned_start = DATE('2024-02-30')"},
    {"filter": "{not json", "filter-lang": "cql2-json"},
    {"filter": json.dumps({"op": "frobnicate", "args": []}), "filter-lang": "cql2-json"},
    {"filter": "stage = 'filing'", "filter-lang": "sql"},
], ids=["dangling", "operator", "paren", "polygon", "bad-date", "json", "json-op", "lang"])
def test_malformed_filter_is_400(client, params):
    assert_clean_400(client.get(ITEMS, query_string=params))


@pytest.mark.parametrize("cql", [
    "S_INTERSECTS(geometry, POLYGON((120 30, 121 30, 121 31)))",   # ring not closed
    "investment / 0 > 1",                                          # division by zero
    "investment + 'a' > 1",                                        # arithmetic on text
    "CASEI(investment) = 'a'",                                     # CASEI of a number
    "investment > -1e308 * 10",                                    # numeric overflow
    "name = 'x\x00y'",                                             # NUL byte
], ids=["open-ring", "div-zero", "num-plus-text", "casei-number", "overflow", "nul"])
def test_filters_the_database_rejects_are_400_not_500(client, city_conn, cql):
    before = count(city_conn, "TRUE")
    assert_clean_400(client.get(ITEMS, query_string={"filter": cql}))
    assert count(city_conn, "TRUE") == before


# -- injection -----------------------------------------------------------------------------------------

INJECTIONS = [
    {"filter": "name = 'x'; DROP TABLE sitewatch.project; --'"},
    {"filter": "name = 'x' OR 1=1; DROP TABLE sitewatch.project"},
    {"filter": '"name; drop table x" = \'a\''},
    {"filter": json.dumps({"op": "=", "args": [{"property": "name); DROP TABLE sitewatch.project; --"},
                                               "a"]}), "filter-lang": "cql2-json"},
    {"sortby": "name;DROP TABLE sitewatch.project"},
    {"sortby": "(select 1)"},
    {"sortby": "name desc, (select pg_sleep(5))"},
    {"properties": "name,(select version())"},
    {"properties": "name,code) FROM sitewatch.project; --"},
    {"na'me": "x"},
    {'name"; DROP TABLE sitewatch.project; --': "x"},
    {"storeys": "1; DROP TABLE sitewatch.project"},
    {"crs": "EPSG:4326; DROP TABLE sitewatch.project"},
    {"bbox": "1,2,3,4); DROP TABLE sitewatch.project; --"},
    {"datetime": "2024-01-01'; DROP TABLE sitewatch.project; --"},
]


@pytest.mark.parametrize("params", INJECTIONS, ids=[str(i) for i in range(len(INJECTIONS))])
def test_injection_attempts_are_400_and_harmless(client, city_conn, params):
    before = count(city_conn, "TRUE")
    assert before > 0
    assert_clean_400(client.get(ITEMS, query_string=params))
    assert count(city_conn, "TRUE") == before


@pytest.mark.parametrize("value", ["x' OR '1'='1", "x'; DROP TABLE sitewatch.project; --"])
def test_quoted_values_are_plain_data(client, city_conn, value):
    """A value with quotes is compared as text: no match, no error, nothing dropped."""
    before = count(city_conn, "TRUE")
    assert matched(client, name=value) == count(city_conn, "name = %s", (value,)) == 0
    escaped = value.replace("'", "''")
    assert matched(client, filter=f"name = '{escaped}'") == 0
    assert count(city_conn, "TRUE") == before
