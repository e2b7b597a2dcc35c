"""Submit a file and see its parse through (the CLI's ``ifc load`` and the benchmark)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from bim.ingest.read_model import get_model
from bim.ingest.submit_model import submit_model
from bim.ingest.worker import run_next
from bim.settings import IngestSettings

__all__ = ["load_model"]


def load_model(conn: psycopg.Connection, *, url: str, project_code: str, path: Path | str,
               data_dir: Path | str, settings: IngestSettings | None = None) -> dict:
    """Store, queue and parse ``path`` for the project; return the model (``get_model``).

    ``conn`` must be in autocommit mode.  The parse runs here unless a server's worker took the
    job first, in which case this waits for that worker's outcome.
    """
    settings = settings or IngestSettings()
    submitted = submit_model(conn, project_code=project_code, source=Path(path),
                             data_dir=data_dir, max_bytes=settings.max_file_bytes)
    model_id = submitted["model_id"]
    deadline = time.monotonic() + settings.timeout_s + 120
    while True:
        status = conn.execute("SELECT status FROM sitewatch.bim_model WHERE id = %s",
                              (model_id,)).fetchone()[0]  # type: ignore[index]
        if status in ("done", "failed") or time.monotonic() > deadline:
            return get_model(conn, model_id)
        if status == "queued" and submitted["job_id"] is not None:
            if run_next(conn, url=url, data_dir=data_dir, settings=settings,
                        job_id=submitted["job_id"]) is not None:
                continue
        time.sleep(0.2)
