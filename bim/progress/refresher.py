"""A background thread of the web app that keeps the progress snapshots current.

``mark(code)`` asks for a project's refresh (after its reports were recorded); marks arriving
together are coalesced, so a site app replaying a thousand small batches costs one computation.
Every ``poll_s`` it also refreshes the projects whose snapshot misses their newest parsed model
(loaded by any process, the CLI included).  Once a day (and at start) one thread among all the
app's processes, the one that takes a session advisory lock, refreshes every project with a
schedule: PV moves with the date, and the month-end card checks fall due
(:mod:`bim.progress.refresh_progress`).
"""

from __future__ import annotations

import logging
import threading

import psycopg

from bim.progress.refresh_progress import refresh_all, refresh_progress, stale_projects, today

__all__ = ["ProgressRefresher"]

logger = logging.getLogger(__name__)

DAILY_LOCK = 0x53575052          # "SWPR": one daily pass at a time over all processes


class ProgressRefresher(threading.Thread):
    """Refreshes marked projects within ``delay_s``; with ``daily``, every project once a day
    and the stale ones (new models) every ``poll_s``."""

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
        self._last_daily = None

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
            if self.daily and self._last_daily != today():
                self._daily_pass(conn)
            self._wake.wait(self.poll_s)
            if self._stop_event.is_set():
                return
            self._stop_event.wait(self.delay_s)        # let a burst of marks gather
            self._wake.clear()
            with self._lock:
                codes, self._dirty = self._dirty, set()
            day = today()
            if self.daily:              # models parsed since, by this process or any other
                codes |= set(stale_projects(conn, day))
            for code in sorted(codes):
                try:
                    refresh_progress(conn, code, day)
                except Exception:
                    logger.exception("progress of %s could not be refreshed", code)

    def _daily_pass(self, conn: psycopg.Connection) -> None:
        day = today()
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (DAILY_LOCK,)).fetchone()[0]:  # type: ignore[index]
            self._last_daily = day       # another process is on it
            return
        try:
            n = refresh_all(conn, day)
            logger.info("progress of %d projects refreshed for %s", n, day)
            self._last_daily = day
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (DAILY_LOCK,))
