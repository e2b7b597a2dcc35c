"""``sitewatch progress import FILE.xml``: MS Project (MSPDI) actuals become task reports."""

from __future__ import annotations

import json
from datetime import datetime

from bim.progress.read_actuals_msproject import read_actuals_msproject
from bim.schedule import attach_msproject
from tests.api.test_cli import run
from tests.bim.progress.conftest import SHANGHAI, build_project

# UIDs and WBS codes cross on purpose: Roof (UID 5) has WBS "3", which is Footings' UID, so a
# report naming tasks by WBS would land on the wrong task.  The summary Foundations carries
# rolled-up actuals (skipped), Walls has none (no report).
MSPDI = """<?xml version="1.0" encoding="UTF-8"?>
<Project xmlns="http://schemas.microsoft.com/project">
  <Name>actuals test</Name><MinutesPerDay>480</MinutesPerDay>
  <StatusDate>2026-03-10T17:00:00</StatusDate><CurrentDate>2026-03-12T08:00:00</CurrentDate>
  <Tasks>
    <Task><UID>0</UID><ID>0</ID><Name>actuals test</Name><OutlineLevel>0</OutlineLevel>
      <Summary>1</Summary><ActualStart>2026-03-02T08:00:00</ActualStart>
      <PercentComplete>40</PercentComplete></Task>
    <Task><UID>1</UID><ID>1</ID><WBS>1</WBS><Name>Foundations</Name><OutlineLevel>1</OutlineLevel>
      <Summary>1</Summary><Start>2026-03-02T08:00:00</Start><Finish>2026-03-13T17:00:00</Finish>
      <ActualStart>2026-03-02T08:00:00</ActualStart><PercentComplete>60</PercentComplete></Task>
    <Task><UID>2</UID><ID>2</ID><WBS>1.1</WBS><Name>Excavation</Name><OutlineLevel>2</OutlineLevel>
      <Start>2026-03-02T08:00:00</Start><Finish>2026-03-04T17:00:00</Finish>
      <ActualStart>2026-03-02T08:00:00</ActualStart><ActualFinish>2026-03-05T17:00:00</ActualFinish>
      <PercentComplete>100</PercentComplete><PhysicalPercentComplete>0</PhysicalPercentComplete></Task>
    <Task><UID>3</UID><ID>3</ID><WBS>1.2</WBS><Name>Footings</Name><OutlineLevel>2</OutlineLevel>
      <Start>2026-03-05T08:00:00</Start><Finish>2026-03-13T17:00:00</Finish>
      <ActualStart>2026-03-06T08:00:00</ActualStart><PercentComplete>40</PercentComplete></Task>
    <Task><UID>4</UID><ID>4</ID><WBS>2</WBS><Name>Walls</Name><OutlineLevel>1</OutlineLevel>
      <Start>2026-03-16T08:00:00</Start><Finish>2026-03-27T17:00:00</Finish>
      <PercentComplete>0</PercentComplete></Task>
    <Task><UID>5</UID><ID>5</ID><WBS>3</WBS><Name>Roof</Name><OutlineLevel>1</OutlineLevel>
      <Start>2026-03-09T08:00:00</Start><Finish>2026-03-20T17:00:00</Finish>
      <PercentComplete>0</PercentComplete><PhysicalPercentComplete>25</PhysicalPercentComplete></Task>
    <Task><UID>6</UID><ID>6</ID><WBS>4</WBS><Name>Handover</Name><OutlineLevel>1</OutlineLevel>
      <Start>2026-03-09T17:00:00</Start><Finish>2026-03-09T17:00:00</Finish><Milestone>1</Milestone>
      <ActualStart>2026-03-09T12:00:00</ActualStart><ActualFinish>2026-03-09T12:00:00</ActualFinish>
      <PercentComplete>100</PercentComplete></Task>
  </Tasks>
</Project>
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def stored(conn, code: str) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT t.name, r.percent_complete, r.status, r.actual_start, r.actual_finish,"
        " r.reported_at FROM sitewatch.progress_report r"
        " JOIN sitewatch.task t ON t.id = r.task_id"
        " JOIN sitewatch.project p ON p.id = r.project_id WHERE p.code = %s", (code,)).fetchall()
    assert len(rows) == len({r[0] for r in rows})
    return {r[0]: r[1:] for r in rows}


def test_import_mspdi_actuals(progress_url, pconn, tmp_path):
    project = build_project(pconn)
    xml = tmp_path / "actuals.xml"
    xml.write_text(MSPDI, encoding="utf-8")
    attached = attach_msproject(pconn, project["model_id"], xml)
    pconn.commit()
    assert attached["tasks"] == 6

    first = run(progress_url, tmp_path, "progress", "import", str(xml), "--project", project["code"])
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"received": 4, "accepted": 4, "duplicates": []}
    status_date = at("2026-03-10T17:00:00")
    assert stored(pconn, project["code"]) == {
        "Excavation": (100.0, "done", at("2026-03-02T08:00:00"), at("2026-03-05T17:00:00"),
                       at("2026-03-05T17:00:00")),
        "Footings": (40.0, None, at("2026-03-06T08:00:00"), None, status_date),
        "Roof": (25.0, None, None, None, status_date),                 # physical % complete
        "Handover": (100.0, "done", at("2026-03-09T12:00:00"), at("2026-03-09T12:00:00"),
                     at("2026-03-09T12:00:00")),
    }

    again = run(progress_url, tmp_path, "progress", "import", str(xml), "--project", project["code"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["accepted"] == 0
    assert pconn.execute("SELECT count(*) FROM sitewatch.progress_report WHERE project_id = %s",
                         (project["project_id"],)).fetchone()[0] == 4


def test_reported_at_falls_back_to_current_date_then_actual_start(tmp_path):
    no_status = tmp_path / "no-status.xml"
    no_status.write_text(MSPDI.replace("<StatusDate>2026-03-10T17:00:00</StatusDate>", ""),
                         encoding="utf-8")
    by_task = {r["task"]: r for r in read_actuals_msproject(no_status)}
    assert set(by_task) == {"2", "3", "5", "6"}
    assert by_task["3"]["reported_at"] == at("2026-03-12T08:00:00").isoformat()   # CurrentDate
    neither = tmp_path / "neither.xml"
    neither.write_text(no_status.read_text(encoding="utf-8").replace(
        "<CurrentDate>2026-03-12T08:00:00</CurrentDate>", ""), encoding="utf-8")
    by_task = {r["task"]: r for r in read_actuals_msproject(neither)}
    assert by_task["3"]["reported_at"] == at("2026-03-06T08:00:00").isoformat()   # ActualStart
    assert "reported_at" not in by_task["5"]          # nothing to date it: record_reports rejects
    assert by_task["2"]["client_id"] == {r["task"]: r for r in read_actuals_msproject(
        no_status)}["2"]["client_id"]                  # done tasks do not depend on the status date


def test_xml_that_is_not_mspdi_is_refused(progress_url, pconn, tmp_path):
    project = build_project(pconn)
    other = tmp_path / "other.xml"
    other.write_text("<?xml version='1.0'?><ifcXML/>", encoding="utf-8")
    refused = run(progress_url, tmp_path, "progress", "import", str(other),
                  "--project", project["code"])
    assert refused.returncode == 2 and "not an MS Project XML" in refused.stderr
