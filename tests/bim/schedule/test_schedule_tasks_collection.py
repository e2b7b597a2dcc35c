"""The OGC collection ``schedule-tasks``: geometry = union of the linked elements' footprints,
Part 1/2/3 through the fast path, and the ``datetime`` filter on the planned dates."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import ifcopenshell
import ifcopenshell.api.root
import ifcopenshell.api.sequence
import pytest

from api import create_app
from api.settings import AppSettings, Settings
from bim.schedule import ingest_schedules
from spatial import features
from spatial.collections import COLLECTIONS
from spatial.settings import DatabaseSettings
from tests.bim.schedule.conftest import PROJECT_CODE, add_task, ifc4_file, make_model, set_time

COLL = COLLECTIONS["schedule-tasks"]
SH = ZoneInfo("Asia/Shanghai")


def _square(x: float, y: float, d: float = 0.0001) -> str:
    return f"POLYGON(({x} {y}, {x + d} {y}, {x + d} {y + d}, {x} {y + d}, {x} {y}))"


@pytest.fixture(scope="module")
def tasks_model(schedule_url):
    """Walls W1 and W2 overlap, W3 stands apart; T1 builds W1+W2, T2 builds W3, S sums them up,
    M is a milestone with no element."""
    from spatial import db

    model = ifc4_file()
    walls = {n: ifcopenshell.api.root.create_entity(model, ifc_class="IfcWall", name=n)
             for n in ("W1", "W2", "W3")}
    schedule = ifcopenshell.api.sequence.add_work_schedule(model, name="Plan", predefined_type="PLANNED")
    s = add_task(model, "Structure", schedule=schedule, ident="S")
    t1 = add_task(model, "Walls east", parent=s, ident="T1")
    t2 = add_task(model, "Walls west", parent=s, ident="T2")
    m = add_task(model, "Handover", schedule=schedule, ident="M", milestone=True)
    for task, names in ((t1, ("W1", "W2")), (t2, ("W3",))):
        for n in names:
            ifcopenshell.api.sequence.assign_product(model, relating_product=walls[n], related_object=task)
    set_time(model, t1, ScheduleStart="2024-03-04T08:00:00", ScheduleFinish="2024-03-06T17:00:00")
    set_time(model, t2, ScheduleStart="2024-03-07T08:00:00", ScheduleFinish="2024-03-08T17:00:00")
    set_time(model, m, ScheduleStart="2024-03-20T17:00:00", ScheduleFinish="2024-03-20T17:00:00")
    footprints = {walls["W1"].GlobalId: _square(120.1005, 30.2705),
                  walls["W2"].GlobalId: _square(120.10055, 30.2705),
                  walls["W3"].GlobalId: _square(120.1015, 30.2715)}
    with db.connect(schedule_url) as conn:
        model_id, ids = make_model(conn, footprints)
        with conn.transaction():
            counts = ingest_schedules(conn, model_id, model, ids)
        assert counts["tasks"] == 4 and counts["task_elements"] == 3
        task_ids = dict(conn.execute(
            "SELECT t.identification, t.id::text FROM sitewatch.task t JOIN sitewatch.schedule s"
            " ON s.id = t.schedule_id WHERE s.model_id = %s", (model_id,)).fetchall())
    return {"model_id": model_id, "tasks": task_ids}


@pytest.fixture(scope="module")
def client(schedule_url, tmp_path_factory, tasks_model):
    data = tmp_path_factory.mktemp("schedule-app")
    settings = Settings(app=AppSettings(data=data, host="127.0.0.1", port=5999),
                        database=DatabaseSettings(database_url=schedule_url, data=data))
    app = create_app(settings)
    app.config["TESTING"] = True
    return app.test_client()


def _items(client, **params) -> dict:
    response = client.get("/ogc/collections/schedule-tasks/items", query_string={"f": "json", **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_geometry_is_the_union_of_linked_footprints(sconn, client, tasks_model):
    body = _items(client, model_id=tasks_model["model_id"], limit=100)
    features_ = {f["properties"]["task_id"]: f for f in body["features"]}
    assert set(features_) == {"S", "T1", "T2", "M"} and body["numberMatched"] == 4
    assert features_["S"]["geometry"] is None and features_["M"]["geometry"] is None
    for ident in ("T1", "T2"):
        feature = features_[ident]
        assert feature["id"] == tasks_model["tasks"][ident]
        served, expected, total = sconn.execute(
            "SELECT ST_Area(ST_GeomFromGeoJSON(%(g)s)::geography),"
            " ST_Area(ST_Union(e.footprint)::geography), sum(ST_Area(e.footprint::geography))"
            " FROM sitewatch.task_element te JOIN sitewatch.bim_element e ON e.id = te.element_id"
            " WHERE te.task_id = %(t)s::bigint",
            {"g": json.dumps(feature["geometry"]), "t": feature["id"]}).fetchone()
        assert served == pytest.approx(expected, rel=1e-3)
        if ident == "T1":
            assert expected < total * 0.9          # W1 and W2 overlap: a union, not a sum
    props = features_["T1"]["properties"]
    assert props["project_code"] == PROJECT_CODE and props["parent_task_id"] == "S"
    assert props["parent_id"] == tasks_model["tasks"]["S"] and props["element_count"] == 2
    # RFC 3339 instants (in the session's zone): 08:00 in Hangzhou whatever the offset written.
    assert datetime.fromisoformat(props["planned_start"]) == datetime(2024, 3, 4, 8, tzinfo=SH)
    assert features_["M"]["properties"]["is_milestone"] is True
    assert features_["S"]["properties"]["is_summary"] is True


def test_datetime_filter_on_planned_dates(client, tasks_model):
    def ids(**params):
        body = _items(client, model_id=tasks_model["model_id"], limit=100, **params)
        return sorted(f["properties"]["task_id"] for f in body["features"])

    # An interval selects the tasks whose planned period meets it.
    assert ids(datetime="2024-03-07/2024-03-07") == ["S", "T2"]      # S spans 03-04 … 03-08
    assert ids(datetime="2024-03-05/2024-03-06") == ["S", "T1"]
    assert ids(datetime="2024-03-08T16:00:00+08:00/2024-03-08T16:30:00+08:00") == ["S", "T2"]
    assert ids(datetime="2024-03-09/..") == ["M"]
    assert ids(datetime="../2024-03-03") == []


def test_datetime_instant_is_the_status_date(client, tasks_model):
    body = _items(client, model_id=tasks_model["model_id"], limit=100, datetime="2024-03-07")
    props = {f["properties"]["task_id"]: f["properties"] for f in body["features"]}
    assert sorted(props) == ["M", "S", "T1", "T2"]                   # one date filters nothing
    # Nothing reported.  At the end of 03-07: T1 (due 03-06 17:00) is overdue, T2 began that
    # morning with nothing earned, M is due 03-20; S rolls up T1 and T2.
    assert {k: p["status"] for k, p in props.items()} == {
        "T1": "late_finish", "T2": "late_start", "M": "not_started", "S": "late_start"}
    assert props["T1"]["planned_percent"] == 100 and props["T1"]["reported_percent"] == 0
    assert props["T1"]["status_colour"] == "#b71c1c" and props["M"]["status_colour"] == "#9e9e9e"
    assert {p["status_date"] for p in props.values()} == {"2024-03-07"}
    # T2 runs 08:00 03-07 → 17:00 03-08 (33 h): at 00:00 03-08, 16 of 33 hours have passed.
    assert props["T2"]["planned_percent"] == pytest.approx(100 * 16 / 33)
    # Earlier, everything lies ahead; the single item and the HTML page take the date too.
    early = _items(client, model_id=tasks_model["model_id"], limit=100, datetime="2024-03-01")
    assert {f["properties"]["status"] for f in early["features"]} == {"not_started"}
    fid = tasks_model["tasks"]["T1"]
    one = client.get(f"/ogc/collections/schedule-tasks/items/{fid}?f=json&datetime=2024-03-05")
    assert one.get_json()["properties"]["status"] == "late_start"
    assert client.get(f"/ogc/collections/schedule-tasks/items/{fid}?f=html&datetime=2024-03-05"
                      ).status_code == 200
    # Only the computed columns asked for; sorting or filtering on them is refused.
    only = _items(client, model_id=tasks_model["model_id"], properties="task_id,status",
                  datetime="2024-03-07", sortby="task_id")
    assert [list(f["properties"]) for f in only["features"]][0] == ["task_id", "status"]
    assert client.get("/ogc/collections/schedule-tasks/items?f=json&sortby=status").status_code \
        == 400
    assert client.get("/ogc/collections/schedule-tasks/items?f=json&filter=status%3D'done'"
                      ).status_code == 400


def test_filters_sort_bbox_and_crs(client, tasks_model):
    mid = tasks_model["model_id"]
    body = _items(client, model_id=mid, filter="task_id IN ('T1','T2') AND is_milestone = false",
                  sortby="-planned_start")
    assert [f["properties"]["task_id"] for f in body["features"]] == ["T2", "T1"]
    body = _items(client, model_id=mid, bbox="120.1014,30.2714,120.1017,30.2717")
    assert [f["properties"]["task_id"] for f in body["features"]] == ["T2"]
    body = _items(client, model_id=mid, filter="S_INTERSECTS(geometry, POINT(120.10052 30.27052))")
    assert [f["properties"]["task_id"] for f in body["features"]] == ["T1"]
    body = _items(client, model_id=mid, crs="http://www.opengis.net/def/crs/EPSG/0/4549",
                  properties="task_id", filter="task_id = 'T2'")
    northing, easting = body["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 3.3e6 < northing < 3.4e6 and 4.9e5 < easting < 5.2e5
    assert list(body["features"][0]["properties"]) == ["task_id"]


def test_item_and_errors(client, tasks_model):
    fid = tasks_model["tasks"]["T2"]
    response = client.get(f"/ogc/collections/schedule-tasks/items/{fid}?f=json")
    assert response.status_code == 200 and response.get_json()["properties"]["name"] == "Walls west"
    assert client.get(f"/ogc/collections/schedule-tasks/items/{fid}?f=html").status_code == 200
    assert client.get("/ogc/collections/schedule-tasks/items?f=html&limit=2").status_code == 200
    assert client.get("/ogc/collections/schedule-tasks/items/not-a-task?f=json").status_code == 404
    assert client.get("/ogc/collections/schedule-tasks/items?f=json&colour=red").status_code == 400
    bad = client.get("/ogc/collections/schedule-tasks/items?f=json&filter=nonsense%3D1")
    assert bad.status_code == 400
    queryables = client.get("/ogc/collections/schedule-tasks/queryables?f=json").get_json()
    assert {"task_id", "planned_start", "project_code", "model_id"} <= set(queryables["properties"])


def test_fast_path_query_directly(sconn, tasks_model):
    query = features.ItemsQuery(limit=10, interval=features.parse_datetime("2024-03-20"),
                                equals=(("model_id", str(tasks_model["model_id"])),))
    page = features.query_items(sconn, COLL, query)
    assert page.number_returned == 1
    assert json.loads(page.features)["properties"]["task_id"] == "M"
    assert features.get_item(sconn, COLL, "999999999999") is None


def test_task_geometry_follows_its_elements(sconn):
    """Re-placing elements (a manual georeferencing) or unlinking them moves the task's geometry."""
    from bim.schedule import Schedule, ScheduleData, Task, TaskElement, store_schedule

    model_id, ids = make_model(sconn, {"0" * 21 + "A": _square(120.1010, 30.2710),
                                       "0" * 21 + "B": _square(120.1012, 30.2710)})
    data = ScheduleData(schedules=[Schedule("s", "ifc", None, "s", "planned")],
                        tasks=[Task("t", "s", identification="T")],
                        task_elements=[TaskElement("t", g) for g in ids])
    with sconn.transaction():
        store_schedule(sconn, model_id, data, ids)

    def area() -> float | None:
        return sconn.execute(
            "SELECT ST_Area(geometry::geography) FROM sitewatch.schedule_task_feature"
            " WHERE model_id = %s", (model_id,)).fetchone()[0]

    def union_area() -> float:
        return sconn.execute(
            "SELECT ST_Area(ST_Union(footprint)::geography) FROM sitewatch.bim_element"
            " WHERE model_id = %s AND id IN (SELECT element_id FROM sitewatch.task_element)",
            (model_id,)).fetchone()[0]

    two = area()
    assert two == pytest.approx(union_area())
    sconn.execute("UPDATE sitewatch.bim_element SET footprint = ST_Translate(footprint, -0.00015, 0)"
                  " WHERE global_id = %s AND model_id = %s", ("0" * 21 + "B", model_id))
    assert area() == pytest.approx(union_area()) and area() < two   # the squares now overlap
    sconn.execute("DELETE FROM sitewatch.task_element WHERE element_id = %s", (ids["0" * 21 + "B"],))
    assert area() == pytest.approx(union_area()) and area() < two / 1.9
    sconn.execute("DELETE FROM sitewatch.bim_element WHERE model_id = %s", (model_id,))
    assert area() is None
    sconn.rollback()
