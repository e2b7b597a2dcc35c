"""Fixtures for the 4D schedule tests: small IFC models built in memory, and a database of their own.

The in-memory models follow IfcOpenShell's ``test/bootstrap.py``: a bare file per schema with only
what the reader needs.  Database tests get a scratch database (``sitewatch_schedule``) with one
district and one project, so they do not depend on the order of other test modules (the sample
city tests truncate the ledger).
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.control
import ifcopenshell.api.root
import ifcopenshell.api.sequence
import psycopg
import pytest

from spatial import db
from tests.conftest import fresh_database

REPO = Path(__file__).resolve().parents[3]
SAMPLE_IFC = REPO / "sample_ifc"
PROJECT_CODE = "SCHED-TEST-1"
# A 200 m square in Hangzhou's Xihu district (lon/lat, EPSG:4490).
PROJECT_WKT = ("MULTIPOLYGON(((120.100 30.270, 120.102 30.270, 120.102 30.272, 120.100 30.272, "
               "120.100 30.270)))")
_serial = itertools.count(1)


def ifc4_file(schema: str = "IFC4") -> ifcopenshell.file:
    model = ifcopenshell.file(schema=schema)
    ifcopenshell.api.root.create_entity(model, ifc_class="IfcProject", name="test")
    return model


def add_task(model, name: str, *, schedule=None, parent=None, ident: str | None = None,
             milestone: bool = False):
    task = ifcopenshell.api.sequence.add_task(model, work_schedule=schedule, parent_task=parent,
                                              name=name, identification=ident or name)
    task.IsMilestone = milestone
    task.Identification = ident or name   # add_task numbers nested tasks itself ("1.1")
    return task


def set_time(model, task, **attributes) -> None:
    """Write IfcTaskTime attributes as given (edit_task_time would cascade and round them)."""
    task_time = task.TaskTime or ifcopenshell.api.sequence.add_task_time(model, task=task)
    for name, value in attributes.items():
        setattr(task_time, name, value)


@pytest.fixture(scope="session")
def schedule_url(database_url: str) -> str:
    url = fresh_database(database_url, "sitewatch_schedule")
    with db.connect(url) as conn:
        conn.execute(
            "INSERT INTO sitewatch.district (code, name, geom) VALUES ('330106', '西湖区',"
            " ST_Multi(ST_Expand(ST_SetSRID(ST_MakePoint(120.1, 30.27), 4490), 0.2)))")
        conn.execute(
            "INSERT INTO sitewatch.project (code, name, district_code, type, stage, footprint)"
            " VALUES (%s, '进度测试项目', '330106', 'housing', 'under_construction',"
            " ST_GeomFromText(%s, 4490))", (PROJECT_CODE, PROJECT_WKT))
        conn.commit()
    return url


@pytest.fixture
def sconn(schedule_url: str):
    """A connection to the schedule test database (autocommit off)."""
    with db.connect(schedule_url) as connection:
        yield connection


def make_model(conn: psycopg.Connection, elements: dict[str, str | None], *,
               ifc_class: str = "IfcWall") -> tuple[int, dict[str, int]]:
    """A ``done`` model of the test project with ``elements`` (GlobalId → footprint WKT or None).

    Returns the model id and GlobalId → element id.  Committed.
    """
    n = next(_serial)
    model_id = conn.execute(
        "INSERT INTO sitewatch.bim_model (project_id, version, sha256, file_size, status)"
        " SELECT id, %s, %s, 0, 'done' FROM sitewatch.project WHERE code = %s RETURNING id",
        (n, hashlib.sha256(f"model {n}".encode()).hexdigest(), PROJECT_CODE)).fetchone()[0]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sitewatch.bim_element (model_id, global_id, ifc_class, footprint) VALUES"
            " (%s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4490)))",
            [(model_id, gid, ifc_class, wkt) for gid, wkt in elements.items()])
    ids = dict(conn.execute("SELECT global_id, id FROM sitewatch.bim_element WHERE model_id = %s",
                            (model_id,)).fetchall())
    conn.commit()
    return model_id, ids
