"""A background thread of the web app that keeps the progress snapshots current.

``mark(code)`` asks for a project's refresh (after its reports were recorded); marks arriving
together are coalesced, so a site app replaying a thousand small batches costs one computation.
At start and every ``poll_s`` one thread among all the app's processes, the one that takes a
session advisory lock, refreshes the stale projects (:func:`stale_projects`): new models, parsed
by any process (the CLI included), and, on a new day, every project with a schedule, since PV
moves with the date and month-end card checks fall due (:mod:`bim.progress.refresh_progress`).
The snapshots' own dates say what is done, so no process redoes another's pass.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from bim.progress.refresh_progress import refresh_all, refresh_progress, stale_projects, today

__all__ = ["ProgressRefresher"]

logger = logging.getLogger(__name__)

STALE_LOCK = 0x53575052          # "SWPR": one stale pass at a time over all processes


class ProgressRefresher(threading.Thread):
    """Refreshes marked projects within ``delay_s``; with ``daily``, the stale ones (new models,
    a new day) at start and every ``poll_s``."""

    def __init__(self, url: str, *, delay_s: float = 1.0, poll_s: float = 30.0,
                 daily: bool = True) -> None:
        super().__init__(name="sitewatch-progress", daemon=True)
        self.url = url
        self.delay_s = delay_s
        self.poll_s = poll_s
        self.daily = daily
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop_event = threading.Event()

    def mark(self, project_code: str) -> None:
        with self._lock:
            self._dirty.add(project_code)
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        self._stop_event.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True,
                                     application_name="sitewatch-progress") as conn:
                    self._serve(conn)
            except psycopg.OperationalError as exc:      # database restart: wait, reconnect
                logger.warning("progress refresher lost the database (%s)",
                               str(exc).strip().splitlines()[0])
                self._stop_event.wait(self.poll_s / 10)
            except Exception:
                logger.exception("progress refresher error")
                self._stop_event.wait(self.poll_s / 10)

    def _serve(self, conn: psycopg.Connection) -> None:
        while not self._stop_event.is_set():
            if self.daily:
                self._stale_pass(conn)
            self._wake.wait(self.poll_s)
            if self._stop_event.is_set():
                return
            self._stop_event.wait(self.delay_s)        # let a burst of marks gather
            self._wake.clear()
            with self._lock:
                codes, self._dirty = self._dirty, set()
            day = today()
            for code in sorted(codes):
                try:
                    refresh_progress(conn, code, day)
                except Exception:
                    logger.exception("progress of %s could not be refreshed", code)

    def _stale_pass(self, conn: psycopg.Connection) -> None:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (STALE_LOCK,)).fetchone()[0]:  # type: ignore[index]
            return                       # another process is on it
        try:
            day = today()
            codes = stale_projects(conn, day)
            if codes:
                n = refresh_all(conn, day, codes=codes)
                logger.info("progress of %d projects refreshed for %s", n, day)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (STALE_LOCK,))
