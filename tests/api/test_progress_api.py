"""POST /api/v1/projects/{code}/progress and GET .../deviation, on a database of their own."""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import datetime

import openpyxl
import pytest

from spatial import db, tokens
from tests.bim.progress.conftest import build_project, gid


@pytest.fixture(scope="module")
def papp(app, city_conn):
    """The session app on the sample city (a second app would re-point pygeoapi's globals).
    Projects made here are coded PROG-… and removed afterwards, with their models and reports."""
    parties = [r[0] for r in city_conn.execute(
        "SELECT credit_code FROM sitewatch.enterprise ORDER BY credit_code LIMIT 2")]
    app.config["PROGRESS_PARTIES"] = parties
    yield app
    city_conn.execute("DELETE FROM sitewatch.project WHERE code LIKE 'PROG-%%'")


@pytest.fixture(scope="module")
def pdb(papp, city_conn):
    return city_conn


@pytest.fixture(scope="module")
def headers(papp, pdb) -> dict[str, dict]:
    party, stranger = papp.config["PROGRESS_PARTIES"]

    def bearer(role, scope=None):
        return {"Authorization": f"Bearer {tokens.create(pdb, role=role, scope=scope)}"}
    return {"admin": bearer("admin"), "party": bearer("enterprise", party),
            "stranger": bearer("enterprise", stranger),
            "supervisor": bearer("supervisor", "330106"),
            "other_district": bearer("supervisor", "330102"), "gateway": bearer("gateway")}


@pytest.fixture
def project(papp, city_url):
    with db.connect(city_url) as conn:
        return build_project(conn, contractor=papp.config["PROGRESS_PARTIES"][0])


def _batch(prefix, n, task="A"):
    return [{"client_id": f"{prefix}-{i}", "task": task, "percent_complete": 50,
             "reported_at": "2026-03-05T10:00:00+08:00"} for i in range(n)]


def _count(pdb, project):
    return pdb.execute("SELECT count(*) FROM sitewatch.progress_report WHERE project_id = %s",
                       (project["project_id"],)).fetchone()[0]


def test_post_needs_a_token_with_the_right(papp, project, headers, pdb):
    client = papp.test_client()
    url = f"/api/v1/projects/{project['code']}/progress"
    body = {"reports": _batch("auth", 1)}
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    for who in ("stranger", "other_district", "gateway"):
        response = client.post(url, json=body, headers=headers[who])
        assert response.status_code == 403, who
        assert response.get_json()["code"] == "Forbidden"
    assert _count(pdb, project) == 0
    for who in ("party", "supervisor", "admin"):
        response = client.post(url, json={"reports": _batch(who, 2)}, headers=headers[who])
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["accepted"] == 2
    assert _count(pdb, project) == 6


def test_replay_invalid_and_oversized(papp, project, headers, pdb):
    client = papp.test_client()
    url = f"/api/v1/projects/{project['code']}/progress"
    batch = _batch("replay", 30)
    first = client.post(url, json={"reports": batch}, headers=headers["party"]).get_json()
    again = client.post(url, json={"reports": batch}, headers=headers["party"]).get_json()
    assert first["accepted"] == 30 and first["duplicates"] == []
    assert again["accepted"] == 0 and sorted(again["duplicates"]) == sorted(
        r["client_id"] for r in batch)

    bad = _batch("bad", 5)
    bad[3]["reported_at"] = "yesterday"
    response = client.post(url, json={"reports": bad}, headers=headers["party"])
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"row": 3, "field": "reported_at", "reason": "must be an ISO 8601 date or date-time"}]
    response = client.post(url, json={"reports": _batch("big", 10_001)}, headers=headers["admin"])
    assert response.status_code == 413
    assert client.post(url, json={"rows": []}, headers=headers["admin"]).status_code == 400
    assert client.post("/api/v1/projects/NOPE/progress", json={"reports": []},
                       headers=headers["admin"]).status_code == 404
    assert _count(pdb, project) == 30


def test_concurrent_batches_through_the_api(papp, project, headers, pdb):
    url = f"/api/v1/projects/{project['code']}/progress"
    statuses: list[int] = []

    def post(prefix):
        response = papp.test_client().post(url, json={"reports": _batch(prefix, 500)},
                                           headers=headers["party"])
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=(p,)) for p in ("t1", "t2", "t3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200, 200, 200]
    assert _count(pdb, project) == 1500


def test_deviation_json(papp, project, headers):
    client = papp.test_client()
    client.post(f"/api/v1/projects/{project['code']}/progress", headers=headers["party"], json={
        "reports": [{"client_id": "a", "task": "A", "status": "done", "reported_at": "2026-03-10"},
                    {"client_id": "b", "task": "B", "percent_complete": 20,
                     "reported_at": "2026-03-15"}]})
    response = client.get(f"/api/v1/projects/{project['code']}/deviation?date=2026-03-15")
    assert response.status_code == 200
    body = response.get_json()
    # PV = (10·1 + 10·0.5 + 20·0.5)/40 = 0.625;  EV = (10·1 + 10·0.2 + 20·0)/40 = 0.3
    assert body["summary"]["pv"] == pytest.approx(0.625)
    assert body["summary"]["ev"] == pytest.approx(0.3)
    assert body["summary"]["spi"] == pytest.approx(0.48)
    statuses = {t["task_id"]: t["status"] for t in body["tasks"]}
    assert statuses == {"S1": "behind", "A": "done", "B": "behind", "C": "late_start",
                        "M": "not_started"}
    for query, status in (("date=2026-13-01", 400), ("date=2026-03-15&format=pdf", 400),
                          ("date=2026-03-15&format=pdf", 400)):
        assert client.get(f"/api/v1/projects/{project['code']}/deviation?{query}").status_code \
            == status
    assert client.get("/api/v1/projects/NOPE/deviation").status_code == 404


def test_deviation_csv(papp, project, headers):
    client = papp.test_client()
    client.post(f"/api/v1/projects/{project['code']}/progress", headers=headers["party"], json={
        "reports": [{"client_id": "b", "task": "B", "percent_complete": 20,
                     "reported_at": "2026-03-15"}]})
    response = client.get(f"/api/v1/projects/{project['code']}/deviation?date=2026-03-15&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "任务编号 task id"
    col = {title.split(" ", 1)[1]: i for i, title in enumerate(rows[0])}
    b = {name: row[i] for row in rows[1:] if row[0] == "B" for name, i in col.items()}
    # B: planned (16 − 11)/10 = 50 %, reported 20 %, variance −30 points, behind, parent S1
    assert b["WBS parent"] == "S1"
    assert [float(b[k]) for k in ("planned %", "reported %", "variance (points)")] == \
        [50.0, 20.0, -30.0]
    assert b["status"] == "behind" and b["critical"] == "False"
    # Started 03-15 00:00 (the report's date), planned 03-11 00:00: four days late.
    assert float(b["start variance (days)"]) == 4.0 and b["actual finish"] == ""
    assert b["actual start"].startswith("2026-03-15T00:00:00")


def test_deviation_xlsx(papp, project, headers):
    client = papp.test_client()
    client.post(f"/api/v1/projects/{project['code']}/progress", headers=headers["party"], json={
        "reports": [{"client_id": "b", "task": "B", "percent_complete": 20,
                     "reported_at": "2026-03-15"}]})
    response = client.get(f"/api/v1/projects/{project['code']}/deviation",
                          query_string={"date": "2026-03-15", "format": "xlsx"})
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    tasks, summary = book["任务 Tasks"], book["汇总 Summary"]
    assert tasks.freeze_panes == "A2"
    header = [c.value for c in next(tasks.iter_rows(max_row=1))]
    col = {title.split(" ", 1)[1]: i for i, title in enumerate(header)}
    rows = {r[0]: r for r in tasks.iter_rows(min_row=2, values_only=True)}
    assert rows["B"][col["planned %"]] == pytest.approx(50.0)
    assert rows["B"][col["reported %"]] == pytest.approx(20.0)
    assert rows["B"][col["status"]] == "behind"
    # Dates are Excel dates in local wall time.
    assert rows["B"][col["planned start"]] == datetime(2026, 3, 11)
    values = {r[0]: r[1] for r in summary.iter_rows(values_only=True)}
    # PV = (10·1 + 10·0.5 + 20·0.5)/40 = 0.625;  EV = (10·0 + 10·0.2 + 0)/40 = 0.05
    assert values["计划完成率 PV"] == pytest.approx(0.625)
    assert values["挣得完成率 EV"] == pytest.approx(0.05)
    assert values["进度绩效指数 SPI"] == pytest.approx(0.08)


def test_deviation_html(papp, project, headers):
    client = papp.test_client()
    client.post(f"/api/v1/projects/{project['code']}/progress", headers=headers["party"], json={
        "reports": [{"client_id": "b", "task": "B", "percent_complete": 20,
                     "reported_at": "2026-03-15", "note": "<script>x</script>"}]})
    response = client.get(f"/api/v1/projects/{project['code']}/deviation",
                          query_string={"date": "2026-03-15", "format": "html"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "进度偏差报告 Deviation report" in page and "<svg" in page and "<script" not in page
    assert "62.5%" in page                         # PV = 25/40
    assert page.count("#e53935") >= 2              # B and S1 behind (plus the legend)
    assert "EV(t)" in page and page.count("<polyline") == 2     # planned and earned curves
    assert "Late elements" in page


def test_bim_elements_carry_their_status_at_a_date(papp, project, headers):
    client = papp.test_client()
    client.post(f"/api/v1/projects/{project['code']}/progress", headers=headers["party"], json={
        "reports": [{"client_id": "e1", "status": "done", "elements": [gid("E1")],
                     "reported_at": "2026-03-27T10:00:00+08:00"},
                    {"client_id": "e2", "status": "done", "elements": [gid("E2")],
                     "reported_at": "2026-03-20T10:00:00+08:00"}]})

    def statuses(day: str) -> dict[str, dict]:
        body = client.get("/ogc/collections/bim-elements/items", query_string={
            "f": "json", "model_id": project["model_id"], "datetime": day, "limit": 10}).get_json()
        return {f["properties"]["global_id"]: f["properties"] for f in body["features"]}

    # Task C (03-06 → 03-26) builds E1..E4.  At the end of 03-28: E2 done in time, E1 a day late,
    # E3 and E4 never reported and overdue.
    late = statuses("2026-03-28")
    assert {g: p["status"] for g, p in late.items()} == {
        gid("E1"): "done_late", gid("E2"): "done", gid("E3"): "late_finish",
        gid("E4"): "late_finish"}
    assert late[gid("E1")]["status_colour"] == "#6a1b9a"
    assert late[gid("E3")]["planned_percent"] == 100 and late[gid("E3")]["reported_percent"] == 0
    # At the end of 03-15 (PV_C = 10/20): E2 not yet done, nothing earned: late_start.
    mid = statuses("2026-03-15")
    assert {p["status"] for p in mid.values()} == {"late_start"}
    assert all(p["planned_percent"] == pytest.approx(50) for p in mid.values())
    # A new report is seen at once (the status cache keys on the reports).
    client.post(f"/api/v1/projects/{project['code']}/progress", headers=headers["party"], json={
        "reports": [{"client_id": "e3", "status": "done", "elements": [gid("E3")],
                     "reported_at": "2026-03-15T10:00:00+08:00"}]})
    assert statuses("2026-03-15")[gid("E3")]["status"] == "done"
    # The same through the item URL, and the deviation report agrees on the late count.
    item = client.get(f"/ogc/collections/bim-elements/items/{project['model_id']}:{gid('E4')}",
                      query_string={"f": "json", "datetime": "2026-03-28"}).get_json()
    assert item["properties"]["status"] == "late_finish"
    report = client.get(f"/api/v1/projects/{project['code']}/deviation?date=2026-03-28").get_json()
    c = next(t for t in report["tasks"] if t["task_id"] == "C")
    assert c["late_element_count"] == 2                      # E1 (late) and E4 (overdue)


def test_projects_collection_gains_progress_after_reports(papp, project, headers):
    client = papp.test_client()
    url = f"/ogc/collections/projects/items/{project['code']}?f=json"
    assert client.get(url).get_json()["properties"]["spi"] is None        # nothing measured yet
    client.post(f"/api/v1/projects/{project['code']}/progress", headers=headers["party"], json={
        "reports": [{"client_id": "a", "task": "A", "status": "done", "reported_at": "2026-03-05"}]})
    deadline = time.monotonic() + 30
    while (props := client.get(url).get_json()["properties"])["spi"] is None:
        assert time.monotonic() < deadline, "the app's refresher did not store the figures"
        time.sleep(0.2)
    # Today is long after the schedule (March 2026): everything planned, A (10 of 40) earned.
    deviation = client.get(f"/api/v1/projects/{project['code']}/deviation").get_json()
    report = deviation["summary"]
    assert props["progress_date"] == deviation["status_date"]          # today, Asia/Shanghai
    assert props["pv"] == pytest.approx(1.0) and props["ev"] == pytest.approx(0.25)
    assert props["spi"] == pytest.approx(report["spi"]) and props["card"] == report["card"] == "red"
    # Platforms can ask for the red-card projects.
    red = client.get("/ogc/collections/projects/items", query_string={
        "f": "json", "filter": f"card = 'red' AND code = '{project['code']}'"}).get_json()
    assert [f["id"] for f in red["features"]] == [project["code"]]
