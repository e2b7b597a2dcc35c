"""Load the sample IFC models (``sample_ifc/``) into their projects of the sample city.

``sample_ifc/manifest.json`` (written by ``sample_ifc/make_models.py``) names each model's file
and project code.  A model whose project is not in the ledger (a sample city with another seed or
size) is skipped and reported.  Each model goes through the normal ingest: stored by sha256,
queued, parsed in a child process, written in one transaction with its 4D schedule.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg

from bim.settings import IngestSettings

__all__ = ["SAMPLE_DIR", "load_sample_models"]

logger = logging.getLogger(__name__)

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_ifc"


def load_sample_models(conn: psycopg.Connection, data_dir: Path | str, *,
                       models_dir: Path | str | None = None, url: str | None = None,
                       settings: IngestSettings | None = None) -> list[dict]:
    """Ingest every model of the manifest whose project exists; return one summary per model.

    Parameters
    ----------
    conn : psycopg.Connection
        A connection to a migrated database with the sample city loaded (not inside a
        transaction: each model is submitted in its own).
    data_dir : path
        ``$SITEWATCH_DATA`` (the file store lives under ``files/``).
    models_dir : path, optional
        Folder with ``manifest.json`` and the IFC files (default: the repository's ``sample_ifc``).
    url : str, optional
        Connection URL for the parse process (default: ``conn``'s own).
    settings : IngestSettings, optional

    Returns
    -------
    list of dict
        ``{"file", "project_code", "model_id", "status", "reason", "schedule"}`` per model, or
        ``{"file", "project_code", "skipped": reason}``.
    """
    from bim.ingest.submit_model import submit_model
    from bim.ingest.worker import run_next

    folder = Path(models_dir) if models_dir is not None else SAMPLE_DIR
    settings = settings or IngestSettings()
    url = url or conn.info.dsn
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    out: list[dict] = []
    for entry in manifest:
        code = entry["project_code"]
        exists = conn.execute("SELECT 1 FROM sitewatch.project WHERE code = %s", (code,)).fetchone()
        if exists is None:
            reason = (f"project {code} is not in the ledger (the models are placed in the sample "
                      f"city of {entry['city']['projects']} projects, seed {entry['city']['seed']})")
            logger.info("sample model %s skipped: %s", entry["file"], reason)
            out.append({"file": entry["file"], "project_code": code, "skipped": reason})
            continue
        submitted = submit_model(conn, project_code=code, source=folder / entry["file"],
                                 data_dir=data_dir, max_bytes=settings.max_file_bytes)
        conn.commit()
        result = {"status": submitted["status"], "reason": None}
        if submitted["status"] == "queued" and submitted["job_id"] is not None:
            with psycopg.connect(url, autocommit=True) as worker_conn:
                done = run_next(worker_conn, url=url, data_dir=data_dir, settings=settings,
                                job_id=submitted["job_id"])
            if done is not None:
                result = {"status": done["status"], "reason": done["reason"]}
        row = conn.execute("SELECT summary -> 'schedule' FROM sitewatch.bim_model WHERE id = %s",
                           (submitted["model_id"],)).fetchone()
        conn.commit()
        out.append({"file": entry["file"], "project_code": code, "model_id": submitted["model_id"],
                    **result, "schedule": row[0] if row else None})
    return out
