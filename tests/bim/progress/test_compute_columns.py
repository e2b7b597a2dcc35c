"""The deviation report's other columns: actual dates and variances, critical tasks, baseline,
late elements per task and each element's own status (docs/progress.md), on conftest's schedule."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bim.progress import compute, record_reports
from tests.bim.progress.conftest import at, build_project, gid
from tests.bim.progress.test_compute import _report, _tasks

HOURS = 1 / 24


@pytest.fixture
def reported(pconn, project):
    record_reports(pconn, project["code"], [
        _report("a1", 50, "2026-03-05T10:00:00+08:00", task="A"),
        _report("a2", 100, "2026-03-10T17:00:00+08:00", task="A", actual_finish="2026-03-10"),
        _report("b1", 20, "2026-03-15T18:00:00+08:00", task="B"),
        {"client_id": "e4", "status": "done", "reported_at": "2026-03-12T09:00:00+08:00",
         "elements": [gid("E4")]},
        _report("c1", 90, "2026-03-17T09:00:00+08:00", task="C"),
    ])
    return project


def test_actual_dates_and_variances(pconn, reported):
    tasks = _tasks(compute(pconn, reported["code"], date(2026, 3, 15)))
    a, b, c = tasks["A"], tasks["B"], tasks["C"]
    # A: first work reported 03-05 10:00 (no actual_start given), finished 03-10 00:00.
    assert datetime.fromisoformat(a["actual_start"]) == at("2026-03-05", 10)
    assert a["start_variance"] == pytest.approx(4 + 10 * HOURS)
    assert datetime.fromisoformat(a["actual_finish"]) == at("2026-03-10")
    assert a["finish_variance"] == pytest.approx(-1.0)           # a day early
    # B: started 03-15 18:00, open; its planned finish (03-21) is still ahead: no finish variance.
    assert b["start_variance"] == pytest.approx(4 + 18 * HOURS)
    assert b["actual_finish"] is None and b["finish_variance"] is None
    # C earns from elements at this date: its start is E4's report, 03-12 09:00 (planned 03-06).
    assert c["start_variance"] == pytest.approx(6 + 9 * HOURS)
    # The summary S1 starts with A and is not finished.
    assert tasks["S1"]["actual_start"] == a["actual_start"] and tasks["S1"]["actual_finish"] is None

    late = _tasks(compute(pconn, reported["code"], date(2026, 3, 27)))
    # C at 90 % after its planned finish (03-26 00:00): the variance grows with D (cut 03-28).
    assert late["C"]["finish_variance"] == pytest.approx(2.0)


def test_late_elements_follow_a_task_level_report(pconn, reported):
    mid = _tasks(compute(pconn, reported["code"], date(2026, 3, 15)))
    assert mid["C"]["late_element_count"] == 0                  # C is due 03-26
    result = compute(pconn, reported["code"], date(2026, 3, 27))
    late = _tasks(result)
    # The 90 % task report (03-17) is C's latest: C is late_finish, so are its four elements.
    assert late["C"]["status"] == "late_finish" and late["C"]["late_element_count"] == 4
    assert late["A"]["late_element_count"] == 0 and late["M"]["late_element_count"] == 0
    assert result["late_elements"] == [{"storey": None, "ifc_class": "IfcWall", "count": 4}]


def test_element_level_lateness_and_statuses(pconn):
    project = build_project(pconn)
    record_reports(pconn, project["code"], [
        {"client_id": "e1", "status": "done", "reported_at": "2026-03-27T10:00:00+08:00",
         "elements": [gid("E1")]},                               # the day after C's finish
        {"client_id": "e2", "status": "done", "reported_at": "2026-03-20T10:00:00+08:00",
         "elements": [gid("E2")]},
        {"client_id": "e3", "percent_complete": 40, "reported_at": "2026-03-20T10:00:00+08:00",
         "elements": [gid("E3")]},
    ])
    result = compute(pconn, project["code"], date(2026, 3, 28), elements=True)
    # Late: E1 (done a day after 03-26), E3 and E4 (not done, planned finish passed); E2 on time.
    assert _tasks(result)["C"]["late_element_count"] == 3
    ids = project["elements"]
    statuses = {g: result["elements"][i]["status"] for g, i in ids.items()}
    assert statuses == {gid("E1"): "done_late", gid("E2"): "done",
                        gid("E3"): "late_finish", gid("E4"): "late_finish"}
    assert result["elements"][ids[gid("E3")]]["reported_percent"] == pytest.approx(40)
    assert result["elements"][ids[gid("E3")]]["planned_percent"] == pytest.approx(100)

    # Mid-way (cut 03-17 00:00): C's window 03-06 → 03-26 is half gone (PV 0.55).
    mid = compute(pconn, project["code"], date(2026, 3, 16), elements=True)["elements"]
    assert mid[ids[gid("E1")]]["planned_percent"] == pytest.approx(55)
    assert mid[ids[gid("E1")]]["status"] == "late_start"        # nothing reported by then
    assert "elements" not in compute(pconn, project["code"], date(2026, 3, 16))


def test_critical_tasks_from_the_predecessors(pconn):
    project = build_project(pconn)
    t = project["tasks"]

    def link(pred, succ, kind="FS", lag=0.0):
        pconn.execute("INSERT INTO sitewatch.task_dependency (predecessor_id, successor_id, kind,"
                      " lag_days) VALUES (%s, %s, %s, %s)", (t[pred], t[succ], kind, lag))

    link("A", "B")                  # no slack, but B does not drive the finish
    link("C", "M")                  # C finishes with the project: M and C are critical
    link("B", "M")                  # 5 days of slack: not driving
    pconn.commit()
    critical = {k for k, v in _tasks(compute(pconn, project["code"], date(2026, 3, 15))).items()
                if v["critical"]}
    assert critical == {"C", "M"}
    link("A", "C", "SS", 5.0)       # C starts exactly 5 days after A starts: A drives C
    pconn.commit()
    critical = {k for k, v in _tasks(compute(pconn, project["code"], date(2026, 3, 15))).items()
                if v["critical"]}
    assert critical == {"A", "C", "M", "S1"}


def test_baseline_dates_and_earned_curve(pconn, reported):
    pconn.execute("UPDATE sitewatch.task SET baseline_start = %s, baseline_finish = %s"
                  " WHERE id = %s", (at("2026-02-25"), at("2026-03-08"), reported["tasks"]["A"]))
    pconn.commit()
    result = compute(pconn, reported["code"], date(2026, 3, 22), history=True)
    a = _tasks(result)["A"]
    assert datetime.fromisoformat(a["baseline_start"]) == at("2026-02-25")
    assert datetime.fromisoformat(a["baseline_finish"]) == at("2026-03-08")
    curve = result["summary"]["earned_curve"]
    # AT = 22 days → 22 samples, one a day; the last is D itself and equals the summary's EV.
    assert len(curve) == 22 and curve[-1]["date"] == "2026-03-22"
    assert curve[-1]["ev"] == pytest.approx(result["summary"]["ev"])
    # Before the first report (03-05) nothing is earned; by 03-11 A (weight 10 of 40) is done.
    assert curve[0]["ev"] == 0.0
    on_11 = next(p for p in curve if p["date"] == "2026-03-11")
    assert on_11["ev"] == pytest.approx(10 / 40)
