"""The parse runs in a child with a memory ceiling and a timeout; no model stays 'parsing'."""

from __future__ import annotations

import time

import psycopg

from bim.ingest import jobs, load_model, recover_stale, submit_model
from bim.settings import IngestSettings
from tests.bim.conftest import make_project
from tests.conftest import shared_file

OFFICE = ("sample_ifc_external", "Office_A_20110811.ifc")
FZK = ("sample_ifc_external", "AC20-FZK-Haus.ifc")


def element_rows(conn, model_id: int) -> int:
    return conn.execute("SELECT count(*) FROM sitewatch.bim_element WHERE model_id = %s",
                        (model_id,)).fetchone()[0]


def test_memory_ceiling_fails_the_model_with_reason(bim_conn, bim_url, tmp_path):
    code = make_project(bim_conn, "MEMORY", 120.15, 30.28)
    settings = IngestSettings(worker=False, memory_limit_mb=200)
    model = load_model(bim_conn, url=bim_url, project_code=code, path=shared_file(*FZK),
                       data_dir=tmp_path, settings=settings)
    assert model["status"] == "failed"
    assert "memory ceiling of 200 MiB" in model["reason"], model["reason"]
    assert element_rows(bim_conn, model["id"]) == 0
    assert model["job"]["status"] == "failed"


def test_timeout_kills_the_parse_and_fails_the_model(bim_conn, bim_url, tmp_path):
    code = make_project(bim_conn, "TIMEOUT", -71.06, 42.358)
    settings = IngestSettings(worker=False, timeout_s=0.05)
    model = load_model(bim_conn, url=bim_url, project_code=code, path=shared_file(*OFFICE),
                       data_dir=tmp_path, settings=settings)
    assert model["status"] == "failed"
    assert model["reason"] == "the parse timed out after 0.05 s"
    assert element_rows(bim_conn, model["id"]) == 0
    # Sending the same bytes again queues the failed model again (no second row).
    again = load_model(bim_conn, url=bim_url, project_code=code, path=shared_file(*OFFICE),
                       data_dir=tmp_path, settings=IngestSettings(worker=False))
    assert again["id"] == model["id"] and again["status"] == "done"
    assert again["job"]["attempts"] == 1 and again["reason"] is None


def test_stale_parsing_rows_are_recovered(bim_conn, bim_url, tmp_path):
    code = make_project(bim_conn, "STALE", 120.15, 30.28)
    submitted = submit_model(bim_conn, project_code=code, source=shared_file(*FZK),
                             data_dir=tmp_path, max_bytes=10**8)
    # A worker takes the job, then dies with it (its connection closes: its lock goes).
    with psycopg.connect(bim_url, autocommit=True) as dead:
        job = jobs.take_job(dead, worker="doomed", job_id=submitted["job_id"])
        assert job is not None
        # While it lives, recovery leaves its job alone.
        assert recover_stale(bim_conn) == 0
        dead_pid = dead.info.backend_pid
    # Closing returns before the server has ended that backend (and dropped its locks).
    deadline = time.monotonic() + 10
    while bim_conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                           (dead_pid,)).fetchone() and time.monotonic() < deadline:
        time.sleep(0.05)
    status = bim_conn.execute("SELECT status FROM sitewatch.bim_model WHERE id = %s",
                              (submitted["model_id"],)).fetchone()[0]
    assert status == "parsing"
    assert recover_stale(bim_conn) == 2   # the job and its model
    status, reason = bim_conn.execute(
        "SELECT status, failure_reason FROM sitewatch.bim_model WHERE id = %s",
        (submitted["model_id"],)).fetchone()
    assert status == "failed" and reason.startswith("interrupted")
    job_status, = bim_conn.execute("SELECT status FROM sitewatch.job WHERE id = %s",
                                   (submitted["job_id"],)).fetchone()
    assert job_status == "failed"
