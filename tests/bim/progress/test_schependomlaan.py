"""The Schependomlaan as-planned/as-built data: the report's late elements per task must agree
with the event log's own "Too late" labels.

The real IFC model is a Git LFS object that is not available, so the test authors an IFC2X3 file
with one element per GUID of the log (its GlobalId and IfcClass, in one storey, no geometry) and
ingests it through the real ingest path (``bim.ingest.load_model``).  The MS Project plan is
attached with the log as task mapping, the log is imported with ``sitewatch progress import``,
and the deviation is computed after the project's end.  Everything expected is counted here from
the files with the csv module and ElementTree, independently of the code under test.
"""

from __future__ import annotations

import csv
import json
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import date
from zoneinfo import ZoneInfo

import ifcopenshell.api.root
import ifcopenshell.api.spatial
import pytest

from bim.ingest import load_model
from bim.progress import compute
from bim.schedule import attach_msproject
from bim.settings import IngestSettings
from spatial import db
from tests.api.test_cli import run
from tests.bim.conftest import make_project
from tests.bim.models import make_model
from tests.bim.progress.conftest import at, build_project, gid, setup_ledger
from tests.conftest import shared_file

FOLDER = ("sample_ifc_external", "schependomlaan_eventlogs")
CODE = "SCHEPENDOMLAAN"
STATUS_DATE = date(2016, 1, 31)          # after the plan's last finish (2015-12-17)
SHANGHAI = ZoneInfo("Asia/Shanghai")
TOO_LATE = "Too late"


def _log_rows(path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [r for r in csv.DictReader(handle) if any((v or "").strip() for v in r.values())]


def _xml_task_count(path) -> int:
    ns = {"p": "http://schemas.microsoft.com/project"}
    tasks = ET.parse(path).getroot().findall("p:Tasks/p:Task", ns)
    def label(t) -> bool:        # a heading or blank line typed as a task (read_msproject)
        return (t.findtext("p:HideBar", namespaces=ns) == "1"
                and t.findtext("p:Duration", namespaces=ns) == "PT0H0M0S"
                and t.findtext("p:Milestone", namespaces=ns) != "1"
                and t.findtext("p:Summary", namespaces=ns) != "1"
                and t.find("p:PredecessorLink", ns) is None)

    return sum(1 for t in tasks if t.findtext("p:UID", namespaces=ns) != "0"
               and t.findtext("p:IsNull", namespaces=ns) != "1" and not label(t))


@pytest.fixture(scope="module")
def loaded(progress_url, tmp_path_factory):
    xml = shared_file(*FOLDER, "Uitvoering_Schependomlaan_18-02-2015_msproject.xml")
    log = shared_file(*FOLDER, "eventlog_as_planned_incl_as_built.csv")
    rows = _log_rows(log)
    classes = {r["GUID"]: r["IfcClass"] for r in rows}
    work = tmp_path_factory.mktemp("schependomlaan")

    t0 = time.perf_counter()
    model = make_model("IFC2X3", walls=0)
    storey = model.by_type("IfcBuildingStorey")[0]
    elements = []
    for global_id, ifc_class in sorted(classes.items()):
        element = ifcopenshell.api.root.create_entity(model, ifc_class=ifc_class, name=global_id)
        element.GlobalId = global_id
        elements.append(element)
    ifcopenshell.api.spatial.assign_container(model, products=elements, relating_structure=storey)
    ifc = work / "schependomlaan.ifc"
    model.write(str(ifc))
    authored_s = time.perf_counter() - t0

    with db.connect(progress_url, autocommit=True) as conn:
        setup_ledger(conn)
        make_project(conn, CODE, 5.84, 51.83)          # Nijmegen; the model has no georeference
        t1 = time.perf_counter()
        loaded_model = load_model(conn, url=progress_url, project_code=CODE, path=ifc,
                                  data_dir=work / "data",
                                  settings=IngestSettings(worker=False, timeout_s=300))
        ingest_s = time.perf_counter() - t1
        assert loaded_model["status"] == "done", loaded_model
        attached = attach_msproject(conn, loaded_model["id"], xml, mapping_csv=log)
        imported = run(progress_url, work, "progress", "import", str(log), "--project", CODE)
        assert imported.returncode == 0, imported.stderr
        again = run(progress_url, work, "progress", "import", str(log), "--project", CODE)
        assert again.returncode == 0, again.stderr
        result = compute(conn, CODE, STATUS_DATE)
        links = conn.execute(
            "SELECT t.name, (r.actual_finish AT TIME ZONE 'Asia/Shanghai')::date"
            "         > (t.planned_finish AT TIME ZONE 'Asia/Shanghai')::date"
            " FROM sitewatch.task_element te JOIN sitewatch.task t ON t.id = te.task_id"
            " JOIN sitewatch.progress_report_element pe ON pe.element_id = te.element_id"
            " JOIN sitewatch.progress_report r ON r.id = pe.report_id"
            " JOIN sitewatch.bim_element e ON e.id = te.element_id"
            " WHERE e.model_id = %s", (loaded_model["id"],)).fetchall()
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM sitewatch.bim_element WHERE model_id = %(m)s),"
            " (SELECT count(*) FROM sitewatch.task t JOIN sitewatch.schedule s"
            "   ON s.id = t.schedule_id WHERE s.model_id = %(m)s),"
            " (SELECT count(*) FROM sitewatch.progress_report r JOIN sitewatch.project p"
            "   ON p.id = r.project_id WHERE p.code = %(c)s),"
            " (SELECT count(DISTINCT pe.element_id) FROM sitewatch.progress_report_element pe"
            "   JOIN sitewatch.progress_report r ON r.id = pe.report_id"
            "   JOIN sitewatch.project p ON p.id = r.project_id"
            "   WHERE p.code = %(c)s AND pe.percent_complete = 100)",
            {"m": loaded_model["id"], "c": CODE}).fetchone()
    print(f"\nSchependomlaan: authored {len(classes)} elements in {authored_s:.1f} s, "
          f"ingested in {ingest_s:.1f} s")
    return {"rows": rows, "xml": xml, "attached": attached, "result": result, "links": links,
            "counts": dict(zip(("elements", "tasks", "reports", "done"), counts)),
            "first": json.loads(imported.stdout), "again": json.loads(again.stdout)}


def _by_name(tasks: list[dict], field: str) -> dict[str, int]:
    out: Counter = Counter()
    for t in tasks:
        if not t["is_summary"]:
            out[(t["name"] or "").strip()] += t[field]
    return {k: v for k, v in out.items() if v}


def test_import_counts(loaded):
    rows = loaded["rows"]
    guids = {r["GUID"] for r in rows}
    assert loaded["counts"]["elements"] == len(guids) == 2358
    assert loaded["attached"]["tasks"] == loaded["counts"]["tasks"] == _xml_task_count(
        loaded["xml"]) == 114
    assert loaded["attached"]["task_elements"] == len({(r["GUID"], r["TaskID"]) for r in rows})
    assert loaded["first"] == {"received": len(guids), "accepted": len(guids), "duplicates": []}
    assert loaded["again"]["accepted"] == 0 and len(loaded["again"]["duplicates"]) == len(guids)
    assert loaded["counts"]["reports"] == len(guids)
    assert loaded["counts"]["done"] == len(guids)          # every element of the log is done
    assert len(loaded["result"]["tasks"]) == 114


def test_labels_are_one_per_element(loaded):
    labels = defaultdict(set)
    for r in loaded["rows"]:
        labels[r["GUID"]].add(r["Element on time or not"])
    assert set().union(*labels.values()) == {"On time", TOO_LATE}
    assert all(len(v) == 1 for v in labels.values())      # the derivation needs no tie-break


def test_derived_finishes_reproduce_the_labels(loaded):
    """Each stored link: element finished on a later day than the task's planned finish
    exactly when the log calls the element late (checked in SQL, without compute())."""
    rows = loaded["rows"]
    expected = Counter(r["TaskName"].strip() for r in rows if r["Element on time or not"] == TOO_LATE)
    got = Counter(name.strip() for name, late in loaded["links"] if late)
    assert got == expected
    assert sum(got.values()) == 194
    assert len(loaded["links"]) == len(rows) == 3661


def test_done_elements_and_status_per_task_name(loaded):
    rows = loaded["rows"]
    tasks = loaded["result"]["tasks"]
    per_name = Counter(r["TaskName"].strip() for r in rows)
    assert _by_name(tasks, "element_count") == dict(per_name)
    assert _by_name(tasks, "done_element_count") == dict(per_name)
    late_names = {r["TaskName"].strip() for r in rows if r["Element on time or not"] == TOO_LATE}
    linked = [t for t in tasks if not t["is_summary"] and t["element_count"]]
    assert {t["status"] for t in linked} <= {"done", "done_late"}
    assert {t["name"].strip() for t in linked if t["status"] == "done_late"} == late_names


def test_late_elements_per_task_agree_with_the_log(loaded):
    rows = loaded["rows"]
    expected = Counter(r["TaskName"].strip() for r in rows if r["Element on time or not"] == TOO_LATE)
    tasks = loaded["result"]["tasks"]
    assert all("late_element_count" in t for t in tasks), \
        "compute() does not give late_element_count yet"
    assert _by_name(tasks, "late_element_count") == dict(expected)
    assert sum(t["late_element_count"] for t in tasks if not t["is_summary"]) == 194


def test_made_up_event_log_derives_finishes(progress_url, pconn, tmp_path):
    """Hand-checked on the conftest schedule: E1..E4 are linked to task C only (planned finish
    2026-03-26 00:00); no shared files needed."""
    project = build_project(pconn)
    log = tmp_path / "log.csv"
    header = "GUID,TaskID,TaskName,TaskStart,TaskFinish,Element on time or not\n"
    log.write_text(header
                   + f"{gid('E1')},X1,task C,6-3-2026,26-3-2026,On time\n"
                   + f"{gid('E2')},X1,task C,6-3-2026,26-3-2026,Too late\n"
                   + f"{gid('E3')},X1,task C,6-3-2026,26-3-2026,On time\n"
                   + f"{gid('E3')},X2,task C,6-3-2026,26-3-2026,Too late\n"   # both: too late
                   + ",,,,,\n", encoding="utf-8")
    done = run(progress_url, tmp_path, "progress", "import", str(log), "--project", project["code"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 3
    rows = dict(pconn.execute(
        "SELECT e.global_id, r.actual_finish FROM sitewatch.progress_report r"
        " JOIN sitewatch.bim_element e ON e.id = r.element_ids[1] WHERE r.project_id = %s",
        (project["project_id"],)).fetchall())
    assert rows == {gid("E1"): at("2026-03-26"), gid("E2"): at("2026-03-27"),
                    gid("E3"): at("2026-03-27")}
    note = pconn.execute("SELECT note FROM sitewatch.progress_report WHERE project_id = %s"
                         " LIMIT 1", (project["project_id"],)).fetchone()[0]
    assert "derived from the label" in note

    unknown = tmp_path / "unknown.csv"
    unknown.write_text(header + f"{gid('E1')},X1,task C,6-3-2026,26-3-2026,On time\n"
                       f"{gid('NOPE')},X1,task C,6-3-2026,26-3-2026,Too late\n", encoding="utf-8")
    rejected = run(progress_url, tmp_path, "progress", "import", str(unknown),
                   "--project", project["code"])
    assert rejected.returncode == 1 and "report 1: elements: unknown element" in rejected.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(header + f"{gid('E1')},X1,task C,6-3-2026,26-3-2026,Maybe\n", encoding="utf-8")
    refused = run(progress_url, tmp_path, "progress", "import", str(bad), "--project",
                  project["code"])
    assert refused.returncode == 2 and "neither 'On time' nor 'Too late'" in refused.stderr
