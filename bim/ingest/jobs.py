"""The parse queue: rows of ``sitewatch.job`` taken with FOR UPDATE SKIP LOCKED.

A worker that takes a job also takes a session advisory lock on it in the same transaction and
holds it while the parse runs.  A job seen as ``running`` whose lock nobody holds belongs to a
worker that died (server restart, kill -9): :func:`recover_stale` fails it and its model with
that reason, so no model stays ``parsing`` for ever.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import psycopg

__all__ = ["CHANNEL", "JOB_KIND", "Job", "enqueue", "finish_job", "recover_stale", "release_job",
           "take_job"]

logger = logging.getLogger(__name__)

JOB_KIND = "ifc_parse"
CHANNEL = "sitewatch_job"
JOB_LOCK = 0x53_57_49_4A    # advisory lock namespace of running jobs ("SWIJ")
SLOT_LOCK = 0x53_57_49_53   # advisory lock namespace of parse slots ("SWIS")


@dataclass(frozen=True)
class Job:
    id: int
    model_id: int


def enqueue(conn: psycopg.Connection, model_id: int) -> int:
    """Queue a parse of ``model_id`` (inside the caller's transaction); return the job id."""
    job_id = conn.execute(
        "INSERT INTO sitewatch.job (kind, payload) VALUES (%s, %s) RETURNING id",
        (JOB_KIND, json.dumps({"model_id": model_id}))).fetchone()[0]  # type: ignore[index]
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(job_id)))
    return int(job_id)


def take_job(conn: psycopg.Connection, *, worker: str, job_id: int | None = None) -> Job | None:
    """Claim the oldest queued parse (or job ``job_id``) and mark its model ``parsing``."""
    with conn.transaction():
        row = conn.execute(
            "SELECT id, (payload->>'model_id')::bigint FROM sitewatch.job"
            " WHERE kind = %(kind)s AND status = 'queued' AND run_after <= now()"
            " AND (%(id)s::bigint IS NULL OR id = %(id)s::bigint)"
            " ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1",
            {"kind": JOB_KIND, "id": job_id}).fetchone()
        if row is None:
            return None
        job = Job(int(row[0]), int(row[1]))
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (JOB_LOCK, job.id))
        conn.execute(
            "UPDATE sitewatch.job SET status = 'running', attempts = attempts + 1,"
            " locked_by = %s, locked_at = now() WHERE id = %s", (worker, job.id))
        conn.execute(
            "UPDATE sitewatch.bim_model SET status = 'parsing', started_at = now(),"
            " finished_at = NULL, failure_reason = NULL WHERE id = %s AND status = 'queued'",
            (job.model_id,))
    return job


def finish_job(conn: psycopg.Connection, job: Job, *, error: str | None) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE sitewatch.job SET status = %s, last_error = %s, finished_at = now()"
            " WHERE id = %s", ("failed" if error else "done", error, job.id))
    release_job(conn, job)


def release_job(conn: psycopg.Connection, job: Job) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (JOB_LOCK, job.id))


def recover_stale(conn: psycopg.Connection) -> int:
    """Fail running jobs whose worker is gone and models left ``parsing``; return how many."""
    reason = "interrupted: the worker running this parse stopped (server restart or crash)"
    recovered = 0
    with conn.transaction():
        rows = conn.execute(
            "SELECT id FROM sitewatch.job"
            " WHERE kind = %s AND status = 'running' FOR UPDATE SKIP LOCKED",
            (JOB_KIND,)).fetchall()
        for (job_id,) in rows:
            free = conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)",
                                (JOB_LOCK, job_id)).fetchone()[0]  # type: ignore[index]
            if not free:
                continue  # a live worker holds it
            conn.execute(
                "UPDATE sitewatch.job SET status = 'failed', last_error = %s, finished_at = now()"
                " WHERE id = %s", (reason, job_id))
            recovered += 1
        cur = conn.execute(
            "UPDATE sitewatch.bim_model m SET status = 'failed', failure_reason = %s,"
            " finished_at = now() WHERE m.status = 'parsing' AND NOT EXISTS ("
            " SELECT 1 FROM sitewatch.job j WHERE j.kind = %s AND j.status = 'running'"
            " AND (j.payload->>'model_id')::bigint = m.id)", (reason, JOB_KIND))
        recovered += cur.rowcount
    if recovered:
        logger.warning("recovered %d interrupted IFC parse(s)", recovered)
    return recovered
