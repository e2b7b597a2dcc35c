"""``sitewatch ifc load FILE --project CODE`` run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.bim.conftest import make_project
from tests.conftest import fresh_database, shared_file

SITEWATCH = Path(sys.executable).parent / "sitewatch"


@pytest.fixture(scope="module")
def ifc_cli_url(database_url: str) -> str:
    url = fresh_database(database_url, "sitewatch_cli_ifc")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO sitewatch.district (code, name, geom) VALUES ('330106', 'Xihu',"
                     " ST_Multi(ST_MakeEnvelope(-180, -85, 180, 85, 4490)))")
        make_project(conn, "CLI-IFC", 8.4337, 49.0956)
    return url


def run(url: str, data: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SITEWATCH), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SITEWATCH_DATABASE_URL": url,
                               "SITEWATCH_DATA": str(data), **env})


def test_ifc_load_prints_the_summary(ifc_cli_url, tmp_path):
    path = shared_file("sample_ifc_external", "geographic-referencing-gk.ifc")
    done = run(ifc_cli_url, tmp_path, "ifc", "load", str(path), "--project", "CLI-IFC")
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    assert model["status"] == "done" and model["project_code"] == "CLI-IFC"
    assert model["summary"]["schema"] == "IFC4X3_ADD2"
    assert model["summary"]["elements_by_class"] == {"IfcBuildingElementProxy": 1}
    assert model["summary"]["georeferencing"]["method"] == "map_conversion"
    assert (tmp_path / "files" / model["sha256"][:2] / f"{model['sha256']}.ifc").exists()


def test_ifc_load_failure_exits_non_zero_with_reason(ifc_cli_url, tmp_path):
    path = shared_file("sample_ifc_external", "AC20-FZK-Haus.ifc")
    done = run(ifc_cli_url, tmp_path, "ifc", "load", str(path), "--project", "CLI-IFC",
               SITEWATCH_IFC_TIMEOUT_S="0.05")
    assert done.returncode == 1
    assert "timed out after 0.05 s" in done.stderr
    assert json.loads(done.stdout)["status"] == "failed"


def test_ifc_load_rejects_a_non_ifc_file(ifc_cli_url, tmp_path):
    path = tmp_path / "notes.ifc"
    path.write_text("meeting notes, not a model")
    done = run(ifc_cli_url, tmp_path, "ifc", "load", str(path), "--project", "CLI-IFC")
    assert done.returncode == 1
    assert "not an IFC file" in done.stderr and done.stdout == ""
