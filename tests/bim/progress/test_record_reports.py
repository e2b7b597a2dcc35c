"""Recording batches: validated whole, idempotent by client_id, safe when concurrent."""

from __future__ import annotations

import threading

import pytest

from bim.progress import MAX_BATCH, record_reports
from spatial import db
from spatial.errors import NotFound, ValidationFailed
from tests.bim.progress.conftest import gid


def _rows(conn, project):
    return conn.execute(
        "SELECT client_id, task_id, element_ids, percent_complete, status, reported_at"
        " FROM sitewatch.progress_report WHERE project_id = %s ORDER BY client_id",
        (project["project_id"],)).fetchall()


def _batch(prefix: str, n: int) -> list[dict]:
    return [{"client_id": f"{prefix}-{i}", "task": "C", "percent_complete": i % 101,
             "reported_at": f"2026-03-{1 + i % 28:02d}T08:00:00+08:00"} for i in range(n)]


def test_replay_is_idempotent(pconn, project):
    batch = _batch("r", 50) + [{"client_id": "el", "status": "done", "reported_at": "2026-03-12",
                                "elements": [gid("E1"), gid("E2")], "reporter": "张工",
                                "note": "一层墙体完成", "photo_sha256": "ab" * 32}]
    first = record_reports(pconn, project["code"], batch, token_id=None)
    assert first["accepted"] == 51 and first["duplicates"] == []
    rows = _rows(pconn, project)
    elements = pconn.execute(
        "SELECT count(*) FROM sitewatch.progress_report_element pe"
        " JOIN sitewatch.progress_report r ON r.id = pe.report_id WHERE r.project_id = %s",
        (project["project_id"],)).fetchone()[0]
    assert elements == 2
    again = record_reports(pconn, project["code"], batch)
    assert again["accepted"] == 0
    assert sorted(again["duplicates"]) == sorted(r["client_id"] for r in batch)
    assert _rows(pconn, project) == rows


def test_same_key_twice_in_one_batch(pconn, project):
    batch = _batch("d", 2) + [dict(_batch("d", 1)[0], percent_complete=99)]
    result = record_reports(pconn, project["code"], batch)
    assert result["accepted"] == 2 and result["duplicates"] == ["d-0"]
    assert _rows(pconn, project)[0][3] == 0.0     # the first one counts


def test_one_invalid_row_rejects_the_batch(pconn, project):
    batch = _batch("v", 20)
    batch[7] = dict(batch[7], percent_complete=130)
    batch[12] = dict(batch[12], task="NO-SUCH-TASK")
    batch[15] = {k: v for k, v in batch[15].items() if k != "reported_at"}
    batch[16] = dict(batch[16], status="in_progress", percent_complete=None)
    batch[17] = dict(batch[17], elements=[gid("E1")])       # task and elements both
    batch[18] = dict(batch[18], task="S1")                  # a summary task
    with pytest.raises(ValidationFailed) as caught:
        record_reports(pconn, project["code"], batch)
    assert {(e["row"], e["field"]) for e in caught.value.errors} == {
        (7, "percent_complete"), (12, "task"), (15, "reported_at"), (16, "percent_complete"),
        (17, "task"), (18, "task")}
    assert _rows(pconn, project) == []


def test_status_and_percent_must_agree(pconn, project):
    with pytest.raises(ValidationFailed) as caught:
        record_reports(pconn, project["code"], [
            {"client_id": "x", "task": "A", "status": "done", "percent_complete": 40,
             "reported_at": "2026-03-02", "colour": "red"}])
    assert {(e["row"], e["field"]) for e in caught.value.errors} == {
        (0, "percent_complete"), (0, "colour")}


def test_batch_limit_and_unknown_project(pconn, project):
    with pytest.raises(ValidationFailed):
        record_reports(pconn, project["code"], _batch("big", MAX_BATCH + 1))
    with pytest.raises(NotFound):
        record_reports(pconn, "NO-SUCH-PROJECT", _batch("n", 1))


def test_full_batch_of_ten_thousand(pconn, project):
    result = record_reports(pconn, project["code"], _batch("full", MAX_BATCH))
    assert result["accepted"] == MAX_BATCH


def test_two_concurrent_batches_both_land(progress_url, pconn, project):
    # Overlapping keys (o-100..o-199 in both): each lands once, the other side sees duplicates.
    batches = [_batch("o", 200)[:200], _batch("o", 300)[100:]]
    results: list[dict] = [{}, {}]
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        with db.connect(progress_url) as conn:
            barrier.wait()
            results[i] = record_reports(conn, project["code"], batches[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0]["accepted"] + results[1]["accepted"] == 300
    assert len(results[0]["duplicates"]) + len(results[1]["duplicates"]) == 100
    assert len(_rows(pconn, project)) == 300
