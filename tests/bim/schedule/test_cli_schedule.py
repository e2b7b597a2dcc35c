"""``sitewatch schedule import`` run as a user runs it (a subprocess) against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bim.schedule.conftest import make_model
from tests.conftest import shared_file

SITEWATCH = Path(sys.executable).parent / "sitewatch"
MSPDI = """<?xml version="1.0" encoding="UTF-8"?>
<Project xmlns="http://schemas.microsoft.com/project"><Name>cli</Name>
<ExtendedAttributes><ExtendedAttribute><FieldID>188743731</FieldID><FieldName>Text1</FieldName>
</ExtendedAttribute></ExtendedAttributes><Tasks>
<Task><UID>1</UID><ID>1</ID><Name>Wall</Name><OutlineLevel>1</OutlineLevel>
<Start>2024-03-04T08:00:00</Start><Finish>2024-03-05T17:00:00</Finish>
<ExtendedAttribute><FieldID>188743731</FieldID><Value>00000000000000000000CL</Value></ExtendedAttribute>
</Task></Tasks></Project>
"""


def _run(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SITEWATCH_DATABASE_URL": url}
    return subprocess.run([str(SITEWATCH), *args], env=env, capture_output=True, text=True, timeout=120)


def test_schedule_import(schedule_url, sconn, tmp_path):
    model_id, _ = make_model(sconn, {"00000000000000000000CL": None})
    xml = tmp_path / "p.xml"
    xml.write_text(MSPDI, encoding="utf-8")
    done = _run(schedule_url, "schedule", "import", str(xml), "--model", str(model_id),
                "--guid-field", "Text1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["tasks"], result["task_elements"], result["warnings"]) == (1, 1, [])
    start = sconn.execute(
        "SELECT planned_start_day, task_id FROM sitewatch.schedule_task_feature WHERE model_id = %s",
        (model_id,)).fetchone()
    assert start[1] == "1" and start[0].isoformat() == "2024-03-04"


def test_schedule_import_errors(schedule_url, tmp_path):
    xml = shared_file("sample_ifc_external", "schependomlaan_eventlogs",
                      "Uitvoering_Schependomlaan_18-02-2015_msproject.xml")
    missing = _run(schedule_url, "schedule", "import", str(xml), "--model", "123456789")
    assert missing.returncode == 1 and "no BIM model with id 123456789" in missing.stderr
    bad = tmp_path / "bad.xml"
    bad.write_text("<html/>", encoding="utf-8")
    wrong = _run(schedule_url, "schedule", "import", str(bad), "--model", "1")
    assert wrong.returncode == 1 and "not an MS Project XML file" in wrong.stderr
