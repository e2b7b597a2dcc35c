"""The per-model element feed that colours a model's mesh, and where the page anchors the mesh
(HTTP and SQL, no browser)."""

from __future__ import annotations

import math

import pyproj

from bim.progress import record_reports
from bim.progress.colours import STATUS_COLOURS
from tests.viewer.conftest import BIM_REPORTS, MESH_OFFSET, MESH_ROTATION
from viewer import data

L1, L2 = "0SiteWatchTestSlab0001", "0SiteWatchTestSlab0002"


def _get(client, url: str) -> dict:
    r = client.get(url)
    assert r.status_code == 200 and r.mimetype == "application/json", r.get_data(as_text=True)
    return r.get_json()


def _get_geojson(client, url: str) -> dict:
    r = client.get(url)
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    return r.get_json()


def test_model_elements_planned_windows(viewer_app, bim_project):
    body = _get(viewer_app.test_client(), f"/viewer/models/{bim_project['model_id']}/elements.json")
    assert body["model_id"] == bim_project["model_id"] and body["status_date"] is None
    # The tasks of BIM_SQL, as local dates: T1 builds L1, T2 builds L2.
    assert {e["global_id"]: (e["planned_start"], e["planned_finish"], e["status"])
            for e in body["elements"]} == {L1: ("2024-03-01", "2024-06-30", None),
                                           L2: ("2024-07-01", "2024-12-31", None)}


def test_model_elements_status_at_a_date(viewer_app, viewer_conn, bim_project):
    record_reports(viewer_conn, bim_project["code"], BIM_REPORTS)
    client = viewer_app.test_client()
    model = bim_project["model_id"]
    body = _get(client, f"/viewer/models/{model}/elements.json?date=2024-12-31")
    by_gid = {e["global_id"]: e for e in body["elements"]}
    assert body["status_date"] == "2024-12-31" and set(by_gid) == {L1, L2}
    # L1 reported done on 2024-06-20, before its planned finish; L2, due 2024-12-31, not yet.
    assert by_gid[L1]["status"] == "done" and by_gid[L2]["status"] == "late_finish"
    for e in by_gid.values():
        assert e["colour"] == STATUS_COLOURS[e["status"]]
        assert e["status_date"] == "2024-12-31"
    # The footprints' feed says the same for the same date.
    lon, lat = bim_project["lon"], bim_project["lat"]
    fc = _get_geojson(client, f"/viewer/elements.json?bbox={lon - 0.01},{lat - 0.01},"
                              f"{lon + 0.01},{lat + 0.01}&date=2024-12-31")
    footprints = {f["properties"]["global_id"]: f["properties"] for f in fc["features"]
                  if f["properties"]["model_id"] == model}
    for gid, e in by_gid.items():
        assert (footprints[gid]["status"], footprints[gid]["colour"]) == (e["status"], e["colour"])
    # After L2's report: done late.
    later = _get(client, f"/viewer/models/{model}/elements.json?date=2025-02-01")
    assert {e["global_id"]: e["status"] for e in later["elements"]} == {L1: "done", L2: "done_late"}


def test_model_elements_errors(viewer_app, bim_project):
    client = viewer_app.test_client()
    missing = client.get("/viewer/models/987654/elements.json")
    assert missing.status_code == 404 and missing.get_json()["code"] == "NotFound"
    bad = client.get(f"/viewer/models/{bim_project['model_id']}/elements.json?date=31.12.2024")
    assert bad.status_code == 400 and bad.get_json()["code"] == "InvalidParameterValue"


def test_mesh_anchor_is_the_glb_origin(viewer_conn, bim_project):
    """A GLB with an offset is anchored at its own origin: the model's origin moved by the
    offset, turned by the placement's rotation (checked here with a geodesic, not the placement)."""
    (model,) = [m for m in data.models(viewer_conn) if m["model_id"] == bim_project["model_id"]]
    assert model["rotation"] == MESH_ROTATION
    assert model["mesh"] == f"/api/v1/models/{bim_project['model_id']}/mesh.glb"
    origin = viewer_conn.execute("SELECT ST_X(origin), ST_Y(origin) FROM sitewatch.bim_model "
                                 "WHERE id = %s", (bim_project["model_id"],)).fetchone()
    r = math.radians(MESH_ROTATION)
    east = MESH_OFFSET[0] * math.cos(r) - MESH_OFFSET[1] * math.sin(r)
    north = MESH_OFFSET[0] * math.sin(r) + MESH_OFFSET[1] * math.cos(r)
    geod = pyproj.Geod(ellps="GRS80")
    lon, lat, _ = geod.fwd(*origin, math.degrees(math.atan2(east, north)), math.hypot(east, north))
    _, _, miss = geod.inv(lon, lat, *model["position"][:2])
    assert miss < 0.01, f"the mesh is anchored {miss:.3f} m from its GLB's origin"
    assert model["position"][2] == 0.0
