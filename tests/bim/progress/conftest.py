"""A database of its own and a small hand-made schedule for the progress formulas.

The schedule (all instants 00:00 Asia/Shanghai, built with SQL, no IFC needed):

    S1  summary of A and B
    A   2026-03-01 → 2026-03-11   10 days
    B   2026-03-11 → 2026-03-21   10 days
    C   2026-03-06 → 2026-03-26   20 days, linked to elements E1..E4 (volumes 1, 1, 1, 7)
    M   milestone 2026-03-26
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from spatial import db
from tests.conftest import fresh_database

SHANGHAI = ZoneInfo("Asia/Shanghai")
ENTERPRISE = "91330100MA2AXXXX1Y"      # the contractor of every test project
OTHER_ENTERPRISE = "91330100MA2BYYYY2Y"
_serial = itertools.count(1)


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)


def gid(name: str) -> str:
    """A 22-character GlobalId-shaped id for a test element."""
    return (name + "_" * 22)[:22]


def setup_ledger(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO sitewatch.district (code, name, geom) VALUES ('330106', '西湖区',"
        " ST_Multi(ST_Expand(ST_SetSRID(ST_MakePoint(120.1, 30.27), 4490), 0.2)))"
        " ON CONFLICT DO NOTHING")
    for code in (ENTERPRISE, OTHER_ENTERPRISE):
        conn.execute("INSERT INTO sitewatch.enterprise (credit_code, name, roles)"
                     " VALUES (%s, %s, '{contractor}') ON CONFLICT DO NOTHING", (code, code))


def build_project(conn: psycopg.Connection, *, quantities: list[dict] | None = None,
                  contractor: str | None = None) -> dict:
    """A project with a done model and the schedule above; committed.  Returns codes and ids.

    With ``contractor`` (an existing enterprise, district 330106 existing) nothing else is added
    to the ledger; projects are coded ``PROG-…`` so a test can remove them afterwards.
    """
    n = next(_serial)
    code = f"PROG-{n}-{datetime.now():%H%M%S%f}"
    if contractor is None:
        setup_ledger(conn)
    pid = conn.execute(
        "INSERT INTO sitewatch.project (code, name, district_code, type, stage, contractor_unit,"
        " footprint) VALUES (%s, '进度测试', '330106', 'housing', 'under_construction', %s,"
        " ST_Multi(ST_Expand(ST_SetSRID(ST_MakePoint(120.1, 30.27), 4490), 0.001))) RETURNING id",
        (code, contractor or ENTERPRISE)).fetchone()[0]
    model = conn.execute(
        "INSERT INTO sitewatch.bim_model (project_id, version, sha256, file_size, status)"
        " VALUES (%s, 1, %s, 0, 'done') RETURNING id",
        (pid, hashlib.sha256(code.encode()).hexdigest())).fetchone()[0]
    schedule = conn.execute(
        "INSERT INTO sitewatch.schedule (model_id, source, name, purpose)"
        " VALUES (%s, 'ifc', 'plan', 'planned') RETURNING id", (model,)).fetchone()[0]

    def task(ident, start, finish, parent=None, milestone=False):
        return conn.execute(
            "INSERT INTO sitewatch.task (schedule_id, parent_id, source_id, identification, name,"
            " is_milestone, planned_start, planned_finish) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id", (schedule, parent, gid("T" + ident), ident, f"task {ident}",
                              milestone, start, finish)).fetchone()[0]

    tasks = {"S1": task("S1", at("2026-03-01"), at("2026-03-21"))}
    tasks["A"] = task("A", at("2026-03-01"), at("2026-03-11"), tasks["S1"])
    tasks["B"] = task("B", at("2026-03-11"), at("2026-03-21"), tasks["S1"])
    tasks["C"] = task("C", at("2026-03-06"), at("2026-03-26"))
    tasks["M"] = task("M", at("2026-03-26"), at("2026-03-26"), milestone=True)
    quantities = quantities if quantities is not None else [
        {"volume": 1}, {"volume": 1}, {"volume": 1}, {"volume": 7}]
    elements = {}
    for i, q in enumerate(quantities, start=1):
        g = gid(f"E{i}")
        elements[g] = conn.execute(
            "INSERT INTO sitewatch.bim_element (model_id, global_id, ifc_class, quantities)"
            " VALUES (%s, %s, 'IfcWall', %s) RETURNING id",
            (model, g, psycopg.types.json.Jsonb(q))).fetchone()[0]
        conn.execute("INSERT INTO sitewatch.task_element (task_id, element_id) VALUES (%s, %s)",
                     (tasks["C"], elements[g]))
    conn.commit()
    return {"code": code, "project_id": pid, "model_id": model, "tasks": tasks,
            "elements": elements}


@pytest.fixture(scope="session")
def progress_url(database_url: str) -> str:
    return fresh_database(database_url, "sitewatch_progress")


@pytest.fixture
def pconn(progress_url: str):
    with db.connect(progress_url) as connection:
        yield connection


@pytest.fixture
def project(pconn) -> dict:
    return build_project(pconn)
