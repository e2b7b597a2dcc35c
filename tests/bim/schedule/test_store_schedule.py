"""Schedules stored in PostGIS: the ingest hook, MS Project attachment, transactions."""

from __future__ import annotations

import csv

import ifcopenshell
import pytest

from bim.schedule import attach_msproject, ingest_schedules
from tests.bim.schedule.conftest import make_model
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def spec_sample() -> ifcopenshell.file:
    return ifcopenshell.open(str(shared_file("sample_ifc_external", "construction-scheduling-task.ifc")))


def _rows(conn, model_id: int, query: str) -> list[tuple]:
    return conn.execute(query, {"m": model_id}).fetchall()


def test_ingest_hook_writes_the_spec_sample(sconn, spec_sample):
    elements = {e.GlobalId: None for e in spec_sample.by_type("IfcElement")}
    model_id, ids = make_model(sconn, elements)
    with sconn.transaction():
        counts = ingest_schedules(sconn, model_id, spec_sample, ids)
    assert {k: counts[k] for k in ("schedules", "tasks", "milestones", "dependencies",
                                   "task_elements")} == {
        "schedules": 1, "tasks": 8, "milestones": 0, "dependencies": 7, "task_elements": 5}
    # The storey the summary task outputs is not a stored element: said, not linked.
    assert any("3nYYuCp$XC4vhvJ2cMbpd2" in w for w in counts["warnings"])

    tasks = _rows(sconn, model_id, """
        SELECT t.source_id, p.source_id, t.date_source, t.planned_start, t.planned_finish
        FROM sitewatch.task t JOIN sitewatch.schedule s ON s.id = t.schedule_id
        LEFT JOIN sitewatch.task p ON p.id = t.parent_id WHERE s.model_id = %(m)s""")
    assert len(tasks) == len(spec_sample.by_type("IfcTask"))
    nested = {(child.GlobalId, rel.RelatingObject.GlobalId)
              for rel in spec_sample.by_type("IfcRelNests") if rel.RelatingObject.is_a("IfcTask")
              for child in rel.RelatedObjects}
    assert {(t[0], t[1]) for t in tasks if t[1]} == nested
    assert sum(t[2] == "early" for t in tasks) == 7
    assert all(t[3] is not None and t[4] >= t[3] for t in tasks)

    deps = _rows(sconn, model_id, """
        SELECT a.source_id, b.source_id, d.kind, d.lag_days FROM sitewatch.task_dependency d
        JOIN sitewatch.task a ON a.id = d.predecessor_id JOIN sitewatch.task b ON b.id = d.successor_id
        JOIN sitewatch.schedule s ON s.id = a.schedule_id WHERE s.model_id = %(m)s""")
    assert sorted(deps) == sorted((r.RelatingProcess.GlobalId, r.RelatedProcess.GlobalId, "FS", 0.0)
                                  for r in spec_sample.by_type("IfcRelSequence"))
    links = _rows(sconn, model_id, """
        SELECT t.source_id, e.global_id, te.relation FROM sitewatch.task_element te
        JOIN sitewatch.task t ON t.id = te.task_id JOIN sitewatch.bim_element e ON e.id = te.element_id
        WHERE e.model_id = %(m)s""")
    assert sorted(links) == sorted(
        (task.GlobalId, rel.RelatingProduct.GlobalId, "output")
        for rel in spec_sample.by_type("IfcRelAssignsToProduct") for task in rel.RelatedObjects
        if rel.RelatingProduct.GlobalId in ids)
    calendar = sconn.execute("SELECT calendar FROM sitewatch.schedule WHERE model_id = %s",
                             (model_id,)).fetchone()[0]
    assert calendar["weekdays"] == [1, 2, 3, 4, 5] and calendar["hours_per_day"] == 8.0
    sconn.commit()


def test_ingest_hook_stays_in_the_callers_transaction(sconn, spec_sample):
    model_id, ids = make_model(sconn, {e.GlobalId: None for e in spec_sample.by_type("IfcElement")})
    with pytest.raises(RuntimeError, match="caller gives up"):
        with sconn.transaction():
            assert ingest_schedules(sconn, model_id, spec_sample, ids)["tasks"] == 8
            raise RuntimeError("caller gives up")
    assert sconn.execute("SELECT count(*) FROM sitewatch.schedule WHERE model_id = %s",
                         (model_id,)).fetchone()[0] == 0


def test_model_without_tasks(sconn):
    model_id, _ = make_model(sconn, {})
    empty = ifcopenshell.file(schema="IFC4")
    assert ingest_schedules(sconn, model_id, empty, {}) == {
        "schedules": 0, "tasks": 0, "milestones": 0, "dependencies": 0, "task_elements": 0,
        "warnings": []}


def test_attach_msproject_with_the_event_log(sconn):
    folder = ("sample_ifc_external", "schependomlaan_eventlogs")
    xml = shared_file(*folder, "Uitvoering_Schependomlaan_18-02-2015_msproject.xml")
    log = shared_file(*folder, "eventlog_as_planned_incl_as_built.csv")
    with log.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if any(v.strip() for v in r.values())]
    guids = {r["GUID"] for r in rows}
    model_id, _ = make_model(sconn, {g: None for g in sorted(guids)})
    result = attach_msproject(sconn, model_id, xml, mapping_csv=log)
    # 157 tasks in the file, 43 of them label rows (headings, blank lines) left out.
    assert result["tasks"] == 114 and result["dependencies"] == 48 and result["schedules"] == 1
    assert result["task_elements"] == len({(r["GUID"], r["TaskID"]) for r in rows}) == 3661
    assert result["replaced"] == 0
    linked = sconn.execute(
        "SELECT count(DISTINCT te.element_id) FROM sitewatch.task_element te"
        " JOIN sitewatch.bim_element e ON e.id = te.element_id WHERE e.model_id = %s",
        (model_id,)).fetchone()[0]
    assert linked == len(guids)
    again = attach_msproject(sconn, model_id, xml, mapping_csv=log)
    assert again["replaced"] == 1
    assert sconn.execute("SELECT count(*) FROM sitewatch.schedule WHERE model_id = %s",
                         (model_id,)).fetchone()[0] == 1


def test_attach_msproject_unknown_model(sconn, tmp_path):
    xml = shared_file("sample_ifc_external", "schependomlaan_eventlogs",
                      "Uitvoering_Schependomlaan_18-02-2015_msproject.xml")
    with pytest.raises(LookupError, match="no BIM model"):
        attach_msproject(sconn, 10**12, xml)
    sconn.rollback()
