"""Projects' progress snapshots: the figures of compute(), the card of the month-end checks,
refreshed by the web app's refresher thread for marked, new and all projects."""

from __future__ import annotations

import time
from datetime import date

import pytest

from bim.progress import compute, record_reports
from bim.progress.refresh_progress import refresh_all, refresh_progress, stale_projects, today
from bim.progress.refresher import ProgressRefresher
from tests.bim.progress.conftest import build_project


def _snapshot(conn, project) -> dict | None:
    row = conn.execute(
        "SELECT status_date, model_id, pv, ev, sv, spi, sv_t, spi_t, card, status_counts"
        " FROM sitewatch.project_progress WHERE project_id = %s",
        (project["project_id"],)).fetchone()
    keys = ("status_date", "model_id", "pv", "ev", "sv", "spi", "sv_t", "spi_t", "card", "counts")
    return dict(zip(keys, row)) if row else None


def _versions(conn) -> int:
    return conn.execute("SELECT coalesce(sum(n), 0) FROM sitewatch.tile_change"
                        " WHERE table_name = 'sitewatch.project_progress'").fetchone()[0]


def test_snapshot_holds_the_computed_figures_and_the_card(pconn, project):
    record_reports(pconn, project["code"], [
        {"client_id": "a", "task": "A", "percent_complete": 100, "reported_at": "2026-03-10"}])
    stored = refresh_progress(pconn, project["code"], date(2026, 3, 15))
    snap = _snapshot(pconn, project)
    s = compute(pconn, project["code"], date(2026, 3, 15))["summary"]
    # PV = (10·1 + 10·0.5 + 20·0.5)/40 = 0.625;  EV = (10·1)/40 = 0.25 (test_compute's schedule)
    assert snap["pv"] == pytest.approx(0.625) and snap["ev"] == pytest.approx(0.25)
    assert snap["spi"] == pytest.approx(0.4) and snap["sv_t"] == pytest.approx(s["sv_t"])
    assert snap["status_date"] == date(2026, 3, 15) and snap["model_id"] == project["model_id"]
    assert snap["card"] is None and stored["spi"] == pytest.approx(0.4)       # no month end yet
    assert snap["counts"] == s["status_counts"]

    # Two months on: M (due 03-26) is not done at 03-31, 04-30 and 05-31 → yellow, yellow, red.
    refresh_progress(pconn, project["code"], date(2026, 5, 31))
    assert _snapshot(pconn, project)["card"] == "red"
    cards = pconn.execute("SELECT check_date, card FROM sitewatch.project_card_check"
                          " WHERE project_id = %s ORDER BY check_date",
                          (project["project_id"],)).fetchall()
    assert [c for _, c in cards] == ["yellow", "yellow", "red"]


def test_unchanged_figures_write_nothing(pconn, project):
    refresh_progress(pconn, project["code"], date(2026, 3, 15))
    before = _versions(pconn)
    refresh_progress(pconn, project["code"], date(2026, 3, 15))
    assert _versions(pconn) == before               # tiles of `projects` keep their ETags
    refresh_progress(pconn, project["code"], date(2026, 3, 16))
    assert _versions(pconn) > before


def test_a_project_without_a_model_loses_its_snapshot(pconn, project):
    refresh_progress(pconn, project["code"], date(2026, 3, 15))
    pconn.execute("UPDATE sitewatch.bim_model SET status = 'failed' WHERE id = %s",
                  (project["model_id"],))
    pconn.commit()
    assert project["code"] in stale_projects(pconn, date(2026, 3, 15))
    assert refresh_progress(pconn, project["code"], date(2026, 3, 15)) is None
    assert _snapshot(pconn, project) is None
    assert project["code"] not in stale_projects(pconn, date(2026, 3, 15))


def test_refresh_all_and_stale_projects(pconn):
    a, b = build_project(pconn), build_project(pconn)
    day = date(2026, 3, 20)
    assert {a["code"], b["code"]} <= set(stale_projects(pconn, day))
    assert refresh_all(pconn, day, codes=[a["code"], b["code"]]) == 2
    stale = set(stale_projects(pconn, day))
    assert a["code"] not in stale and b["code"] not in stale
    assert a["code"] in stale_projects(pconn, date(2026, 3, 21))     # a day later: stale again


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("the refresher did not get there in time")


def test_refresher_thread_marks_new_models_and_daily_pass(progress_url, pconn):
    project = build_project(pconn)
    # Daily pass at start: every scheduled project, this one included, is refreshed for today.
    refresher = ProgressRefresher(progress_url, delay_s=0.05, poll_s=0.2)
    refresher.start()
    try:
        _wait_for(lambda: (_snapshot(pconn, project) or {}).get("status_date") == today())
        # A new model version of a project: picked up by the stale poll, no mark needed.
        newer = build_project(pconn)
        _wait_for(lambda: _snapshot(pconn, newer) is not None)
        # A report marks its project: refreshed at once (the figures change).
        before = _snapshot(pconn, project)["ev"]
        record_reports(pconn, project["code"], [
            {"client_id": "done-c", "task": "C", "status": "done", "reported_at": "2026-03-20"}])
        pconn.commit()
        refresher.mark(project["code"])
        _wait_for(lambda: _snapshot(pconn, project)["ev"] > before)
        assert _snapshot(pconn, project)["ev"] == pytest.approx(
            compute(pconn, project["code"], today())["summary"]["ev"])
    finally:
        refresher.stop(timeout=10)
    assert not refresher.is_alive()
