"""The formulas of docs/progress.md against numbers computed by hand (see conftest's schedule)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from psycopg.types.json import Jsonb

from bim.progress import STATUS_COLOURS, compute, record_reports
from tests.bim.progress.conftest import at, build_project, gid


def _report(client_id, percent, reported_at, **extra):
    return {"client_id": client_id, "percent_complete": percent, "reported_at": reported_at, **extra}


@pytest.fixture
def reported(pconn, project):
    record_reports(pconn, project["code"], [
        _report("a1", 50, "2026-03-05T10:00:00+08:00", task="A"),
        _report("a2", 100, "2026-03-10T17:00:00+08:00", task="A", actual_finish="2026-03-10"),
        # Reported late on D itself (18:00 on the 15th): it counts at D = 2026-03-15.
        _report("b1", 20, "2026-03-15T18:00:00+08:00", task=gid("TB")),   # by GlobalId
        # E4 (volume 7 of 10) done on the 12th: an element-level report for task C.
        {"client_id": "e4", "status": "done", "reported_at": "2026-03-12T09:00:00+08:00",
         "elements": [gid("E4")]},
        # After D = 2026-03-15: ignored there, used at D = 2026-03-22.
        _report("c1", 90, "2026-03-17T09:00:00+08:00", task="C"),
        _report("b2", 100, "2026-03-22T10:00:00+08:00", task="B", actual_finish="2026-03-22"),
    ])
    return project


def _tasks(result):
    return {t["task_id"]: t for t in result["tasks"]}


def test_status_date_mid_project(pconn, reported):
    result = compute(pconn, reported["code"], date(2026, 3, 15))
    tasks, s = _tasks(result), result["summary"]
    # D = 2026-03-15 means the instant 2026-03-16 00:00.  Weights: A 10, B 10, C 20, M 0 (Σ 40).
    # PV_A = clamp(15/10) = 1;  PV_B = (16 − 11)/10 = 0.5;  PV_C = (16 − 6)/20 = 0.5;  PV_M = 0
    assert tasks["A"]["pv"] == pytest.approx(1.0)
    assert tasks["B"]["pv"] == pytest.approx(0.5)
    assert tasks["C"]["pv"] == pytest.approx(0.5)
    assert tasks["M"]["pv"] == 0.0 and tasks["M"]["weight"] == 0.0
    # EV_A = 1.00;  EV_B = 0.20;  EV_C = volume done / volume = 7/10 = 0.7 (by count it would be 1/4)
    assert tasks["A"]["ev"] == pytest.approx(1.0)
    assert tasks["B"]["ev"] == pytest.approx(0.2)
    assert tasks["C"]["ev"] == pytest.approx(0.7)
    assert tasks["C"]["done_element_count"] == 1 and tasks["C"]["element_count"] == 4
    # A finished 03-10 ≤ 03-11: done; B 0.2 < 0.5 − 0.1: behind; C 0.7 > 0.5 + 0.1: ahead.
    assert {k: t["status"] for k, t in tasks.items()} == {
        "S1": "behind", "A": "done", "B": "behind", "C": "ahead", "M": "not_started"}
    assert all(t["colour"] == STATUS_COLOURS[t["status"]] for t in tasks.values())
    # Summary S1 = A, B with weights 10, 10: PV = (1 + 0.5)/2 = 0.75, EV = (1 + 0.2)/2 = 0.6
    assert tasks["S1"]["pv"] == pytest.approx(0.75)
    assert tasks["S1"]["ev"] == pytest.approx(0.6)
    assert tasks["S1"]["is_summary"] and not tasks["A"]["is_summary"]
    # PV = (10·1 + 10·0.5 + 20·0.5)/40 = 25/40 = 0.625;  EV = (10·1 + 10·0.2 + 20·0.7)/40 = 0.65
    assert s["pv"] == pytest.approx(0.625)
    assert s["ev"] == pytest.approx(0.65)
    assert s["sv"] == pytest.approx(0.025)
    assert s["spi"] == pytest.approx(1.04)              # 0.65 / 0.625
    # Planned curve, t = days since 03-01:  PV(15) = (10 + 5 + 10)/40 = 0.625,
    # PV(16) = (10 + 6 + 11)/40 = 0.675  →  ES = 15 + (0.65 − 0.625)/(0.675 − 0.625) = 15.5
    assert s["planned_duration"] == pytest.approx(25.0)   # 03-01 → 03-26
    assert s["es"] == pytest.approx(15.5)
    assert s["at"] == pytest.approx(15.0)               # 03-16 00:00 − 03-01 00:00
    assert s["sv_t"] == pytest.approx(0.5)
    assert s["spi_t"] == pytest.approx(15.5 / 15)
    # Forecast finish = 03-01 + 25 / (15.5/15) = 03-01 + 750/31 days (24.19 days)
    expected = at("2026-03-01") + timedelta(days=750 / 31)
    forecast = datetime.fromisoformat(s["forecast_finish"])
    assert abs((forecast - expected).total_seconds()) < 1


def test_later_status_date(pconn, reported):
    result = compute(pconn, reported["code"], date(2026, 3, 22))
    tasks, s = _tasks(result), result["summary"]
    # Cut 03-23 00:00.  PV_A = 1, PV_B = 1, PV_C = (23 − 6)/20 = 0.85.
    # C: the task report of 03-17 (90 %) is later than the element report of 03-12: EV_C = 0.9.
    # B: 100 % on 03-22 with actual_finish 03-22 > planned finish 03-21: done_late.
    assert tasks["C"]["ev"] == pytest.approx(0.9)
    assert {k: t["status"] for k, t in tasks.items()} == {
        "S1": "done_late", "A": "done", "B": "done_late", "C": "on_time", "M": "not_started"}
    # PV = (10 + 10 + 20·0.85)/40 = 37/40;  EV = (10 + 10 + 20·0.9)/40 = 38/40
    assert s["pv"] == pytest.approx(0.925)
    assert s["ev"] == pytest.approx(0.95)
    assert s["spi"] == pytest.approx(0.95 / 0.925)


def test_early_date_late_start_and_late_finish(pconn, reported):
    early = _tasks(compute(pconn, reported["code"], date(2026, 3, 8)))
    # Cut 03-09: PV_A = 8/10 = 0.8, EV_A = 0.5 < 0.7: behind.  C started 03-06, nothing earned.
    assert early["A"]["status"] == "behind"
    assert early["C"]["status"] == "late_start"
    assert early["B"]["status"] == "not_started"
    late = _tasks(compute(pconn, reported["code"], date(2026, 3, 27)))
    assert late["M"]["status"] == "late_finish"         # a milestone due 03-26, not done
    assert late["M"]["pv"] == 1.0
    assert late["C"]["status"] == "late_finish"         # 90 % after its planned finish


def test_nothing_planned_yet_has_no_spi(pconn, project):
    s = compute(pconn, project["code"], date(2026, 2, 1))["summary"]
    # Cut 02-02 is before every task: PV = 0, EV = 0 → SPI undefined; AT < 0 → SPI(t) undefined.
    assert s["pv"] == 0.0 and s["ev"] == 0.0
    assert s["spi"] is None and s["spi_t"] is None and s["forecast_finish"] is None


def test_element_rollup_by_count_when_a_quantity_is_missing(pconn):
    project = build_project(pconn, quantities=[{"volume": 1}, {"volume": 1}, {}, {"volume": 7}])
    record_reports(pconn, project["code"], [
        {"client_id": "x", "status": "done", "reported_at": "2026-03-12", "elements": [gid("E4")]},
        {"client_id": "y", "percent_complete": 60, "reported_at": "2026-03-12",
         "elements": [gid("E1")]},                      # not done: does not count
    ])
    tasks = _tasks(compute(pconn, project["code"], date(2026, 3, 15)))
    # E3 has no volume → by count: 1 done of 4 = 0.25 (< PV_C 0.5 − 0.1: behind)
    assert tasks["C"]["ev"] == pytest.approx(0.25)
    assert tasks["C"]["status"] == "behind"


def test_project_without_model(pconn, project):
    pconn.execute("UPDATE sitewatch.bim_model SET status = 'failed' WHERE id = %s",
                  (project["model_id"],))
    pconn.commit()
    result = compute(pconn, project["code"], date(2026, 3, 15))
    assert result["tasks"] == [] and result["summary"]["spi"] is None


def test_work_calendar(pconn, reported):
    # Mon–Fri, with Wednesday 2026-03-04 a holiday (2026-03-01 is a Sunday).
    calendar = {"weekdays": [1, 2, 3, 4, 5], "hours": [["08:00", "17:00"]], "hours_per_day": 9,
                "exceptions": [{"from": "2026-03-04", "to": "2026-03-04", "working": False}]}
    pconn.execute("UPDATE sitewatch.schedule SET calendar = %s WHERE model_id = %s",
                  (Jsonb(calendar), reported["model_id"]))
    pconn.commit()
    result = compute(pconn, reported["code"], date(2026, 3, 15))
    tasks, s = _tasks(result), result["summary"]
    # Working days: A [03-01, 03-11) = 2,3,5,6,9,10 → w 6;  B [03-11, 03-21) = 11,12,13,16..20 → 8;
    # C [03-06, 03-26) = 6,9..13,16..20,23..25 → 14.   Σw = 28.
    assert [tasks[k]["weight"] for k in "ABC"] == pytest.approx([6, 8, 14])
    # Cut 03-16 00:00: PV_A = 1;  PV_B = 3 (11,12,13) / 8 = 0.375;  PV_C = 6 (6,9..13) / 14 = 3/7
    assert tasks["B"]["pv"] == pytest.approx(0.375)
    assert tasks["C"]["pv"] == pytest.approx(3 / 7)
    # PV = (6 + 8·0.375 + 14·3/7)/28 = 15/28;  EV = (6·1 + 8·0.2 + 14·0.7)/28 = 17.4/28
    assert s["pv"] == pytest.approx(15 / 28)
    assert s["ev"] == pytest.approx(17.4 / 28)
    assert s["spi"] == pytest.approx(17.4 / 15)
    # Curve at calendar days: PV(16) (03-17) = (6 + 4 + 7)/28 = 17/28, PV(17) = (6 + 5 + 8)/28
    # = 19/28  →  ES = 16 + (17.4 − 17)/(19 − 17) = 16.2;  AT = 15;  SPI(t) = 1.08
    assert s["es"] == pytest.approx(16.2)
    assert s["sv_t"] == pytest.approx(1.2)
    assert s["spi_t"] == pytest.approx(1.08)
    assert tasks["B"]["status"] == "behind"          # 0.2 < 0.375 − 0.1
    assert tasks["C"]["status"] == "ahead"           # 0.7 > 3/7 + 0.1
