"""A process forked from one that has parsed (gunicorn's workers under ``sitewatch demo``) parses."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import psycopg

from bim.ingest import load_model
from bim.settings import IngestSettings
from tests.bim.conftest import make_project

SAMPLES = Path(__file__).resolve().parents[3] / "sample_ifc"
run_parse = importlib.import_module("bim.ingest.run_parse")


def _load_in_forked_child(url: str, code: str, path: Path, data_dir: Path) -> str:
    """Fork, load ``path`` in the child on a connection of its own; the child's outcome."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        outcome = "the child raised before loading"
        try:
            os.close(read)
            with psycopg.connect(url, autocommit=True) as conn:
                model = load_model(conn, url=url, project_code=code, path=path,
                                   data_dir=data_dir, settings=IngestSettings(worker=False))
            outcome = f"{model['status']} {model['reason']} {model['summary']['elements']}"
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def test_a_process_forked_after_a_parse_parses_its_own(bim_conn, bim_url, tmp_path):
    code = make_project(bim_conn, "FORKED", 120.15, 30.28, half_size_m=300)
    first = load_model(bim_conn, url=bim_url, project_code=code,
                       path=SAMPLES / "residential_ifc4.ifc", data_dir=tmp_path,
                       settings=IngestSettings(worker=False))
    assert first["status"] == "done", first["reason"]
    run_parse._keep_spare()          # as after every parse: a child waits for the next job
    assert run_parse._spare is not None

    outcome = _load_in_forked_child(bim_url, code, SAMPLES / "residential_ifc2x3.ifc", tmp_path)
    assert outcome == f"done None {first['summary']['elements']}", outcome

    # The parent's own spare and fork server still work after the fork.
    again = load_model(bim_conn, url=bim_url, project_code=make_project(
        bim_conn, "FORKED2", 120.15, 30.28, half_size_m=300),
        path=SAMPLES / "residential_ifc2x3.ifc", data_dir=tmp_path / "again",
        settings=IngestSettings(worker=False))
    assert again["status"] == "done", again["reason"]
