"""The worker that runs queued parses: a thread in the web app, or the CLI for one job."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bim.ingest import jobs
from bim.ingest.run_parse import mark_failed, run_parse
from bim.settings import IngestSettings

__all__ = ["Worker", "run_next"]

logger = logging.getLogger(__name__)


def _slot(conn: psycopg.Connection, settings: IngestSettings) -> int | None:
    """Take one of the instance's ``max_parallel`` parse slots (a session advisory lock)."""
    for k in range(settings.max_parallel):
        if conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                        (jobs.SLOT_LOCK, k)).fetchone()[0]:  # type: ignore[index]
            return k
    return None


def run_next(conn: psycopg.Connection, *, url: str, data_dir: Path | str,
             settings: IngestSettings, job_id: int | None = None,
             worker: str | None = None) -> dict | None:
    """Run the next queued parse (or job ``job_id``) to its end on ``conn`` (autocommit).

    Returns ``{"job_id", "model_id", "status", "reason"}``, or None when there was nothing to
    take (no job, all parse slots busy, or the job is already taken).
    """
    slot = _slot(conn, settings)
    if slot is None:
        return None
    try:
        job = jobs.take_job(conn, worker=worker or _name(), job_id=job_id)
        if job is None:
            return None
        try:
            status, reason = run_parse(url, job.model_id, data_dir=data_dir, settings=settings,
                                       conn=conn)
        except BaseException as exc:
            reason = f"the parse could not be run: {exc}"
            with psycopg.connect(url, autocommit=True) as other:
                mark_failed(other, job.model_id, reason)
            jobs.finish_job(conn, job, error=reason)
            raise
        jobs.finish_job(conn, job, error=reason if status == "failed" else None)
        return {"job_id": job.id, "model_id": job.model_id, "status": status, "reason": reason}
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (jobs.SLOT_LOCK, slot))


def _name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Worker(threading.Thread):
    """Takes parse jobs until stopped; woken by NOTIFY, polling every ``poll_s`` anyway."""

    def __init__(self, url: str, *, data_dir: Path | str, settings: IngestSettings) -> None:
        super().__init__(name="sitewatch-ifc-worker", daemon=True)
        self.url = url
        self.data_dir = data_dir
        self.settings = settings
        self._stop_event = threading.Event()

    def stop(self, timeout: float | None = None) -> None:
        self._stop_event.set()
        self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._serve()
            except psycopg.OperationalError as exc:  # database restart: wait, reconnect
                logger.warning("IFC worker lost the database (%s); retrying in %s s",
                               str(exc).strip().splitlines()[0], self.settings.poll_s)
                self._stop_event.wait(self.settings.poll_s)
            except Exception:
                logger.exception("IFC worker error; retrying in %s s", self.settings.poll_s)
                self._stop_event.wait(self.settings.poll_s)

    def _serve(self) -> None:
        with psycopg.connect(self.url, autocommit=True,
                             application_name="sitewatch-ifc-worker") as conn:
            jobs.recover_stale(conn)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(jobs.CHANNEL)))
            last_recovery = time.monotonic()
            while not self._stop_event.is_set():
                ran = run_next(conn, url=self.url, data_dir=self.data_dir, settings=self.settings)
                if ran is not None:
                    continue
                for _ in conn.notifies(timeout=self.settings.poll_s, stop_after=1):
                    pass
                if time.monotonic() - last_recovery > 60:
                    jobs.recover_stale(conn)
                    last_recovery = time.monotonic()
