"""Accept an IFC file for a project: check it, store it by sha256, create the model and its job.

The same bytes for the same project are the same model (no second row); a model whose parse
failed is queued again when its bytes are sent again.  Other bytes are the next version.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import psycopg

from bim.ingest import jobs
from bim.ingest.check_file import check_file
from bim.ingest.store_file import store_file
from spatial.errors import NotFound

__all__ = ["submit_model"]


def submit_model(conn: psycopg.Connection, *, project_code: str, source: IO[bytes] | Path | str,
                 data_dir: Path | str, max_bytes: int, file_name: str | None = None,
                 uploaded_by: int | None = None) -> dict:
    """Store and queue a model; return ``{"model_id", "job_id", "version", "status",
    "created", "sha256"}``.  Raises InvalidIfc / FileTooLarge / NotFound with nothing written."""
    found = conn.execute("SELECT id FROM sitewatch.project WHERE code = %s",
                         (project_code,)).fetchone()
    if found is None:
        raise NotFound(f"project {project_code!r} not found")
    stored = store_file(source, data_dir=Path(data_dir), max_bytes=max_bytes, check=check_file)
    if file_name is None and isinstance(source, (str, Path)):
        file_name = Path(source).name
    with conn.transaction():
        project_id = conn.execute("SELECT id FROM sitewatch.project WHERE code = %s FOR UPDATE",
                                  (project_code,)).fetchone()
        if project_id is None:
            raise NotFound(f"project {project_code!r} not found")
        existing = conn.execute(
            "SELECT id, version, status FROM sitewatch.bim_model"
            " WHERE project_id = %s AND sha256 = %s", (project_id[0], stored.sha256)).fetchone()
        if existing is not None:
            model_id, version, status = existing
            job_id = None
            if status == "failed":
                conn.execute(
                    "UPDATE sitewatch.bim_model SET status = 'queued', failure_reason = NULL,"
                    " started_at = NULL, finished_at = NULL WHERE id = %s", (model_id,))
                job_id, status = jobs.enqueue(conn, model_id), "queued"
            else:
                row = conn.execute(
                    "SELECT max(id) FROM sitewatch.job WHERE kind = %s"
                    " AND (payload->>'model_id')::bigint = %s", (jobs.JOB_KIND, model_id)).fetchone()
                job_id = row[0] if row else None
            return {"model_id": model_id, "job_id": job_id, "version": version, "status": status,
                    "created": False, "sha256": stored.sha256}
        model_id, version = conn.execute(
            "INSERT INTO sitewatch.bim_model (project_id, version, sha256, file_name, file_size,"
            " uploaded_by) VALUES (%s, (SELECT coalesce(max(version), 0) + 1 FROM"
            " sitewatch.bim_model WHERE project_id = %s), %s, %s, %s, %s) RETURNING id, version",
            (project_id[0], project_id[0], stored.sha256, file_name, stored.size,
             uploaded_by)).fetchone()  # type: ignore[misc]
        job_id = jobs.enqueue(conn, model_id)
    return {"model_id": model_id, "job_id": job_id, "version": version, "status": "queued",
            "created": True, "sha256": stored.sha256}
