"""Sensors over HTTP: registry CRUD with roles, rule overrides, HTTP ingest, the time series,
alarm acknowledgement, and the ``sensors`` / ``alarms`` OGC collections (Part 1/2/3).

Runs on the sample city of tests/api/conftest.py with the sample sensors loaded; expected
numbers come from SQL on ``city_conn`` or from plain Python over the readings sent.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta, timezone

import pytest
from psycopg import sql

from sensors.sample import load_sensors
from spatial import tokens

LABEL = "tests/api/test_sensors_api"
LOCAL = timezone(timedelta(hours=8))
SENSORS_ITEMS = "/ogc/collections/sensors/items"
ALARMS_ITEMS = "/ogc/collections/alarms/items"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, LOCAL).isoformat()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def site(city_conn) -> dict:
    row = city_conn.execute(
        "SELECT code, district_code, contractor_unit, ST_X(ST_PointOnSurface(footprint)), "
        "ST_Y(ST_PointOnSurface(footprint)) FROM sitewatch.project WHERE stage = "
        "'under_construction' AND contractor_unit IS NOT NULL ORDER BY code LIMIT 1").fetchone()
    return dict(zip(("code", "district", "contractor", "lon", "lat"), row))


@pytest.fixture(scope="module")
def sample(city_conn):
    summary = load_sensors(city_conn, seed=7)
    yield summary
    city_conn.execute("DELETE FROM sitewatch.sensor")
    city_conn.execute("TRUNCATE sitewatch.reading, sitewatch.dead_letter")
    city_conn.execute("DELETE FROM sitewatch.poi WHERE source = 'sample'")


@pytest.fixture(scope="module")
def tok(city_conn, site):
    outsider = city_conn.execute("SELECT credit_code FROM sitewatch.enterprise WHERE credit_code "
                                 "<> %s ORDER BY credit_code DESC LIMIT 1",
                                 (site["contractor"],)).fetchone()[0]
    other = "330102" if site["district"] != "330102" else "330105"
    made = {
        "admin": tokens.create(city_conn, role="admin", label=LABEL),
        "gateway": tokens.create(city_conn, role="gateway", label=LABEL),
        "site_gateway": tokens.create(city_conn, role="gateway", scope=site["code"], label=LABEL),
        "supervisor": tokens.create(city_conn, role="supervisor", scope=site["district"],
                                    label=LABEL),
        "other_supervisor": tokens.create(city_conn, role="supervisor", scope=other, label=LABEL),
        "party": tokens.create(city_conn, role="enterprise", scope=site["contractor"], label=LABEL),
        "outsider": tokens.create(city_conn, role="enterprise", scope=outsider, label=LABEL),
    }
    yield made
    city_conn.execute("UPDATE sitewatch.api_token SET revoked_at = now() WHERE label = %s",
                      (LABEL,))


def new_sensor(client, tok, site, code: str, kind: str, **extra):
    body = {"code": code, "kind": kind,
            "location": {"type": "Point", "coordinates": [site["lon"], site["lat"], 2.0]}, **extra}
    return client.post(f"/api/v1/projects/{site['code']}/sensors", json=body,
                       headers=auth(tok["admin"]))


def post_readings(client, token: str, items: list[dict]):
    return client.post("/api/v1/readings", json=items, headers=auth(token))


# -- registry -----------------------------------------------------------------------------------------

def test_create_needs_a_token_of_the_project(client, tok, site, sample):
    body = {"code": "X-1", "kind": "noise",
            "location": {"type": "Point", "coordinates": [site["lon"], site["lat"]]}}
    url = f"/api/v1/projects/{site['code']}/sensors"
    assert client.post(url, json=body).status_code == 401
    for who in ("gateway", "outsider", "other_supervisor"):
        assert client.post(url, json=body, headers=auth(tok[who])).status_code == 403, who
    for who, code in (("admin", "X-1"), ("supervisor", "X-2"), ("party", "X-3")):
        created = client.post(url, json={**body, "code": code}, headers=auth(tok[who]))
        assert created.status_code == 201, created.get_json()
        assert created.headers["Location"].endswith(f"/api/v1/sensors/{created.get_json()['id']}")
    listed = client.get(url).get_json()["sensors"]
    assert {"X-1", "X-2", "X-3"} <= {s["code"] for s in listed}


@pytest.mark.parametrize("change, field", [
    ({"code": "bad/code"}, "code"),
    ({"kind": "radiation"}, "kind"),
    ({"unit": "mm"}, "unit"),
    ({"rules": {"night": {"clear": 60}}}, "rules"),
    ({"rules": {"night": {"type": "bogus"}}}, "rules"),
    ({"profile": "near_metro"}, "profile"),
    ({"location": {"type": "Point", "coordinates": [500, 30]}}, "location"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_sensors_are_422_with_the_field(client, tok, site, sample, change, field):
    body = {"code": "BAD-1", "kind": "noise",
            "location": {"type": "Point", "coordinates": [site["lon"], site["lat"]]}, **change}
    response = client.post(f"/api/v1/projects/{site['code']}/sensors", json=body,
                           headers=auth(tok["admin"]))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] and body["description"]
    assert any(e["field"].startswith(field) for e in body["errors"]), body["errors"]


def test_read_update_delete(client, tok, site, sample, city_conn):
    created = new_sensor(client, tok, site, "CRUD-1", "noise", unit="dBA",
                         rules={"night": {"alarm": 50, "warning": 48, "clear": 45}}).get_json()
    sid = created["id"]
    assert created["unit"] == "dB(A)"
    assert created["effective_rules"]["night"]["alarm"] == 50
    assert created["effective_rules"]["day"]["alarm"] == 70          # the kind's default
    got = client.get(f"/api/v1/sensors/{sid}").get_json()
    x, y, z = city_conn.execute("SELECT ST_X(location), ST_Y(location), ST_Z(location) FROM "
                                "sitewatch.sensor WHERE id = %s", (sid,)).fetchone()
    assert got["location"]["coordinates"] == pytest.approx([x, y, z])
    assert got["state"] == "no_data"
    dup = client.patch(f"/api/v1/sensors/{sid}", json={"code": "X-1"}, headers=auth(tok["admin"]))
    assert dup.status_code == 422
    patched = client.patch(f"/api/v1/sensors/{sid}", json={"rules": {}, "name": "东门噪声"},
                           headers=auth(tok["party"])).get_json()
    assert patched["effective_rules"]["night"]["alarm"] == 55 and patched["name"] == "东门噪声"
    assert client.patch(f"/api/v1/sensors/{sid}", json={"kind": "pm10"},
                        headers=auth(tok["admin"])).status_code == 422
    assert client.delete(f"/api/v1/sensors/{sid}",
                         headers=auth(tok["outsider"])).status_code == 403
    assert client.delete(f"/api/v1/sensors/{sid}", headers=auth(tok["admin"])).status_code == 204
    assert client.get(f"/api/v1/sensors/{sid}").status_code == 404


def test_project_rule_overrides(client, tok, site, sample):
    url = f"/api/v1/projects/{site['code']}/sensor-rules"
    bad = client.put(url, json={"noise": {"night": {"alarm": 40, "warning": 45}}},
                     headers=auth(tok["supervisor"]))
    assert bad.status_code == 422
    assert client.get(url).get_json() == {}
    good = client.put(url, json={"noise": {"night": {"alarm": 50, "warning": 48, "clear": 45}}},
                      headers=auth(tok["supervisor"]))
    assert good.status_code == 200, good.get_json()
    noise = next(s for s in client.get(f"/api/v1/projects/{site['code']}/sensors").get_json()
                 ["sensors"] if s["kind"] == "noise" and not s["rules"])
    assert noise["effective_rules"]["night"]["alarm"] == 50
    client.put(url, json={}, headers=auth(tok["admin"]))
    noise = client.get(f"/api/v1/sensors/{noise['id']}").get_json()
    assert noise["effective_rules"]["night"]["alarm"] == 55


# -- HTTP ingest ---------------------------------------------------------------------------------------

def test_http_ingest_counts_and_dead_letters(client, tok, site, sample, city_conn):
    created = new_sensor(client, tok, site, "HTTP-1", "pm10").get_json()
    t = time.time() - 7200
    good = [{"project_code": site["code"], "sensor_code": "HTTP-1", "ts": iso(t + 60 * i),
             "value": 40 + i, "unit": "ug/m3", "seq": i} for i in range(5)]
    bad = [{"project_code": site["code"], "sensor_code": "HTTP-1", "ts": iso(t), "value": "x"},
           {"project_code": site["code"], "sensor_code": "NOPE", "ts": iso(t), "value": 1},
           {"project_code": site["code"], "sensor_code": "HTTP-1", "ts": iso(t + 7200 * 3),
            "value": 1}]
    assert post_readings(client, tok["supervisor"], good).status_code == 403
    assert client.post("/api/v1/readings", json=good).status_code == 401
    first = post_readings(client, tok["gateway"], good + [good[0]] + bad)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (5, 1, 3)
    assert [(e["index"], e["reason"]) for e in body["errors"]] == [
        (6, "bad_value"), (7, "unknown_sensor"), (8, "future_ts")]
    again = post_readings(client, tok["gateway"], {"readings": good}).get_json()
    assert (again["accepted"], again["duplicate"], again["rejected"]) == (0, 5, 0)
    assert city_conn.execute("SELECT count(*) FROM sitewatch.reading WHERE sensor_id = %s",
                             (created["id"],)).fetchone()[0] == 5
    reasons = [r[0] for r in city_conn.execute(
        "SELECT reason FROM sitewatch.dead_letter WHERE source = 'http' ORDER BY id DESC LIMIT 3")]
    assert sorted(reasons) == ["bad_value", "future_ts", "unknown_sensor"]
    latest = client.get(f"/api/v1/sensors/{created['id']}").get_json()
    assert latest["value"] == 44 and latest["state"] == "normal"


def test_http_ingest_rejects_bad_bodies_and_scopes(client, tok, site, sample, city_conn):
    assert post_readings(client, tok["gateway"], {"nope": 1}).status_code == 400
    too_many = [{}] * 10_001
    assert post_readings(client, tok["gateway"], too_many).status_code == 400
    other = city_conn.execute("SELECT p.code, s.code FROM sitewatch.sensor s JOIN "
                              "sitewatch.project p ON p.id = s.project_id WHERE p.code <> %s "
                              "LIMIT 1", (site["code"],)).fetchone()
    body = post_readings(client, tok["site_gateway"], [
        {"project_code": other[0], "sensor_code": other[1], "ts": iso(time.time()), "value": 1}
    ]).get_json()
    assert body["rejected"] == 1 and body["errors"][0]["reason"] == "out_of_scope"


# -- time series ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mclient(app):
    """A test client for module-scoped fixtures."""
    return app.test_client()


@pytest.fixture(scope="module")
def series(mclient, tok, site, sample):
    """Irregular readings over five hours: (sensor id, [(epoch, value)])."""
    client = mclient
    created = new_sensor(client, tok, site, "SERIES-1", "wind_speed").get_json()
    start = (time.time() // 3600 - 6) * 3600 + 17
    points, t, k = [], start, 0
    while t < start + 5 * 3600:
        points.append((t, round(3 + (k * 37 % 11) / 3, 2)))
        t += 60 + (k * 53) % 400
        k += 1
    items = [{"project_code": site["code"], "sensor_code": "SERIES-1", "ts": iso(p), "value": v}
             for p, v in points]
    assert post_readings(client, tok["gateway"], items).get_json()["accepted"] == len(points)
    return created["id"], points


def python_buckets(points, start: float, end: float, size: int) -> list[tuple]:
    origin = datetime(2000, 1, 1, tzinfo=LOCAL).timestamp()
    groups: dict[float, list[float]] = {}
    for t, v in points:
        if start <= t < end:
            groups.setdefault(origin + (t - origin) // size * size, []).append(v)
    return [(b, min(vs), max(vs), sum(vs) / len(vs), len(vs)) for b, vs in sorted(groups.items())]


@pytest.mark.parametrize("bucket, size", [("1h", 3600), ("15m", 900), ("1d", 86400)])
def test_buckets_match_an_independent_aggregation(client, series, bucket, size):
    sid, points = series
    start, end = points[0][0] - 1000, points[-1][0] + 1000
    response = client.get(f"/api/v1/sensors/{sid}/readings", query_string={
        "from": iso(start), "to": iso(end), "bucket": bucket})
    assert response.status_code == 200, response.get_json()
    got = [(datetime.fromisoformat(b["bucket_start"]).timestamp(), b["min"], b["max"], b["mean"],
            b["count"]) for b in response.get_json()["buckets"]]
    expected = python_buckets(points, start, end, size)
    assert [g[0] for g in got] == [e[0] for e in expected]
    for g, e in zip(got, expected):
        assert g[1:3] == e[1:3] and g[4] == e[4]
        assert g[3] == pytest.approx(e[3])


def test_buckets_as_csv_and_raw(client, series, city_conn):
    sid, points = series
    start, end = points[0][0], points[-1][0] + 1
    response = client.get(f"/api/v1/sensors/{sid}/readings", query_string={
        "from": iso(start), "to": iso(end), "bucket": "1h", "format": "csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    sql = city_conn.execute(
        "SELECT date_trunc('hour', ts), count(*), avg(value) FROM sitewatch.reading "
        "WHERE sensor_id = %s AND ts >= %s AND ts < %s GROUP BY 1 ORDER BY 1",
        (sid, datetime.fromtimestamp(start, LOCAL), datetime.fromtimestamp(end, LOCAL))).fetchall()
    assert [int(r["count"]) for r in rows] == [s[1] for s in sql]
    assert [float(r["mean"]) for r in rows] == pytest.approx([s[2] for s in sql])
    assert [datetime.fromisoformat(r["bucket_start"]) for r in rows] == [s[0] for s in sql]
    raw = client.get(f"/api/v1/sensors/{sid}/readings", query_string={
        "from": iso(start), "to": iso(end), "bucket": "raw"}).get_json()["readings"]
    assert [r["value"] for r in raw] == [v for _, v in points]


@pytest.mark.parametrize("params", [{"bucket": "fortnight"}, {"bucket": "0s"},
                                    {"from": "2026-01-02", "to": "2026-01-01"},
                                    {"from": "yesterday"}, {"format": "xml"}, {"colour": "red"},
                                    {"bucket": "1s", "from": "2020-01-01", "to": "2026-01-01"}])
def test_bad_series_requests_are_400(client, series, params):
    sid, _ = series
    response = client.get(f"/api/v1/sensors/{sid}/readings", query_string=params)
    assert response.status_code == 400, response.get_json()


# -- alarms --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crane_alarms(mclient, tok, site, sample):
    """Two crane episodes, three hours and one hour ago: (sensor id, [alarm ids])."""
    client = mclient
    created = new_sensor(client, tok, site, "CRANE-T", "crane_load_moment").get_json()
    now = time.time()
    values = [(now - 3 * 3600, 101), (now - 3 * 3600 + 60, 50), (now - 3600, 95)]
    body = post_readings(client, tok["gateway"], [
        {"project_code": site["code"], "sensor_code": "CRANE-T", "ts": iso(t), "value": v}
        for t, v in values]).get_json()
    ids = sorted({e["alarm_id"] for e in body["alarm_events"]})
    assert len(ids) == 2
    return created["id"], ids, now


def test_alarm_list_and_acknowledge(client, tok, crane_alarms):
    sid, (closed_id, open_id), _ = crane_alarms
    listed = client.get("/api/v1/alarms", query_string={"state": "open", "limit": 1000}).get_json()
    assert open_id in {a["id"] for a in listed["alarms"]}
    assert closed_id not in {a["id"] for a in listed["alarms"]}
    url = f"/api/v1/alarms/{open_id}/ack"
    assert client.post(url, json={"note": "x"}).status_code == 401
    assert client.post(url, json={"note": "x"}, headers=auth(tok["party"])).status_code == 403
    assert client.post(url, json={"note": "x"},
                       headers=auth(tok["other_supervisor"])).status_code == 403
    assert client.post(url, json={"note": "  "}, headers=auth(tok["supervisor"])).status_code == 400
    acked = client.post(url, json={"note": "已通知项目部停止吊装"}, headers=auth(tok["supervisor"]))
    assert acked.status_code == 200, acked.get_json()
    body = acked.get_json()
    assert body["state"] == "acknowledged" and body["ack_note"] == "已通知项目部停止吊装"
    ack = [t for t in body["transitions"] if t["event"] == "acknowledged"]
    assert len(ack) == 1 and ack[0]["actor"].startswith("token:")
    again = client.post(url, json={"note": "again"}, headers=auth(tok["supervisor"]))
    assert again.status_code == 409
    assert client.post("/api/v1/alarms/987654321/ack", json={"note": "x"},
                       headers=auth(tok["admin"])).status_code == 404


# -- OGC collections ----------------------------------------------------------------------------------

def features(client, url: str, **params) -> dict:
    response = client.get(url, query_string={"f": "json", "limit": 10000, **params})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


def test_collections_are_listed(client, sample):
    ids = {c["id"] for c in client.get("/ogc/collections", query_string={"f": "json"})
           .get_json()["collections"]}
    assert {"sensors", "alarms"} <= ids


def test_sensor_features_match_the_registry(client, city_conn, sample, series):
    body = features(client, SENSORS_ITEMS)
    total = city_conn.execute("SELECT count(*) FROM sitewatch.sensor").fetchone()[0]
    assert body["numberMatched"] == body["numberReturned"] == total
    feature = next(f for f in body["features"] if f["properties"]["code"] == "SERIES-1")
    assert feature["id"] == series[0]
    props = feature["properties"]
    assert props["value"] == series[1][-1][1] and props["state"] == "normal"
    assert (props["kind"], props["unit"], props["alarm_threshold"]) == ("wind_speed", "m/s", 10.8)
    rest = client.get(f"/api/v1/sensors/{feature['id']}").get_json()
    assert rest["code"] == props["code"] and rest["value"] == props["value"]
    x, y = city_conn.execute("SELECT ST_X(location), ST_Y(location) FROM sitewatch.sensor WHERE "
                             "id = %s", (feature["id"],)).fetchone()
    assert feature["geometry"]["coordinates"][:2] == pytest.approx([x, y], abs=1e-7)
    one = client.get(f"{SENSORS_ITEMS}/{feature['id']}", query_string={"f": "json"})
    assert one.status_code == 200 and one.get_json()["properties"] == props
    assert client.get(f"{SENSORS_ITEMS}/not-a-number", query_string={"f": "json"}).status_code == 404
    assert client.get(f"{SENSORS_ITEMS}/99999999", query_string={"f": "json"}).status_code == 404


def test_sensors_part2_crs_and_bbox(client, city_conn, sample, series):
    sid = series[0]
    e, n = city_conn.execute("SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(location, 4549) g "
                             "FROM sitewatch.sensor WHERE id = %s) s", (sid,)).fetchone()
    gk = client.get(f"{SENSORS_ITEMS}/{sid}", query_string={
        "f": "json", "crs": "http://www.opengis.net/def/crs/EPSG/0/4549"})
    assert gk.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4549>"
    assert gk.get_json()["geometry"]["coordinates"][:2] == pytest.approx([n, e], abs=0.01)
    lon, lat = city_conn.execute("SELECT ST_X(location), ST_Y(location) FROM sitewatch.sensor "
                                 "WHERE id = %s", (sid,)).fetchone()
    box = (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    expected = {r[0] for r in city_conn.execute(
        "SELECT id FROM sitewatch.sensor WHERE ST_Intersects(location, ST_MakeEnvelope(%s, %s, "
        "%s, %s, 4490))", box)}
    got = features(client, SENSORS_ITEMS, bbox=",".join(map(str, box)))
    assert {f["id"] for f in got["features"]} == expected and sid in expected
    lat_first = features(client, SENSORS_ITEMS, bbox=f"{box[1]},{box[0]},{box[3]},{box[2]}",
                         **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4490"})
    assert {f["id"] for f in lat_first["features"]} == expected


@pytest.mark.parametrize("cql, where", [
    ("kind = 'pm10'", "kind = 'pm10'"),
    ("kind IN ('noise', 'wind_speed') AND state <> 'no_data'",
     "kind IN ('noise', 'wind_speed') AND state <> 'no_data'"),
    ("value > 5", "value > 5"),
    ("hazardous_work = 'excavation'", "hazardous_work = 'excavation'"),
])
def test_sensors_part3_filters_match_sql(client, city_conn, sample, series, cql, where):
    expected = {r[0] for r in city_conn.execute(
        sql.SQL("SELECT id FROM sitewatch.sensor_feature WHERE {}").format(sql.SQL(where)))}
    got = features(client, SENSORS_ITEMS, filter=cql)
    assert {f["id"] for f in got["features"]} == expected


def test_sensors_queryables_sortby_properties_and_html(client, sample, series):
    q = client.get("/ogc/collections/sensors/queryables", query_string={"f": "json"}).get_json()
    assert {"code", "kind", "state", "value", "ts", "project_code"} <= set(q["properties"])
    ordered = features(client, SENSORS_ITEMS, sortby="-value", filter="value IS NOT NULL",
                       properties="code,value")
    values = [f["properties"]["value"] for f in ordered["features"]]
    assert values == sorted(values, reverse=True) and values
    assert set(ordered["features"][0]["properties"]) == {"code", "value"}
    by_kind = features(client, SENSORS_ITEMS, kind="noise")
    assert by_kind["features"] and {f["properties"]["kind"] for f in by_kind["features"]} == {"noise"}
    html = client.get(SENSORS_ITEMS, query_string={"f": "html"})
    assert html.status_code == 200 and "text/html" in html.content_type
    sid = series[0]
    one = client.get(f"{SENSORS_ITEMS}/{sid}", query_string={"f": "html"})
    assert one.status_code == 200 and "SERIES-1" in one.get_data(as_text=True)
    assert client.get(SENSORS_ITEMS, query_string={"filter": "colour = 'red'"}).status_code == 400


def test_alarms_collection_and_datetime(client, city_conn, crane_alarms):
    sid, (first, second), now = crane_alarms
    body = features(client, ALARMS_ITEMS, sensor_id=str(sid))
    assert sorted(f["id"] for f in body["features"]) == [first, second]
    f = next(f for f in body["features"] if f["id"] == second)
    assert f["properties"]["sensor_code"] == "CRANE-T" and f["properties"]["level"] == "warning"
    assert f["geometry"]["type"] == "Point"
    total = city_conn.execute("SELECT count(*) FROM sitewatch.alarm_feature").fetchone()[0]
    assert features(client, ALARMS_ITEMS)["numberMatched"] == total
    # datetime compares instants: two hours ago splits the two episodes of one morning.
    cut = datetime.fromtimestamp(now - 2 * 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = features(client, ALARMS_ITEMS, sensor_id=str(sid), datetime=f"{cut}/..")
    earlier = features(client, ALARMS_ITEMS, sensor_id=str(sid), datetime=f"../{cut}")
    assert [x["id"] for x in later["features"]] == [second]
    assert [x["id"] for x in earlier["features"]] == [first]
    closed = features(client, ALARMS_ITEMS, filter=f"state = 'closed' AND sensor_id = {sid}")
    assert [x["id"] for x in closed["features"]] == [first]
    one = client.get(f"{ALARMS_ITEMS}/{second}", query_string={"f": "json"})
    assert one.status_code == 200 and one.get_json()["properties"]["project_code"]
    html = client.get(ALARMS_ITEMS, query_string={"f": "html"})
    assert html.status_code == 200
    assert client.get(f"{ALARMS_ITEMS}/{second}", query_string={"f": "html"}).status_code == 200
    meta = client.get("/ogc/collections/alarms", query_string={"f": "json"}).get_json()
    assert "temporal" in meta["extent"]
