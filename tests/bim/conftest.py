"""Fixtures for the BIM tests: a database of their own, a file store, projects placed anywhere.

Projects are created with a square footprint around a given longitude/latitude (near where a
sample file says it is, or far from it to provoke the "georeferencing suspect" warning).
"""

from __future__ import annotations

import math
from pathlib import Path

import psycopg
import pytest

from bim.settings import IngestSettings
from spatial import db
from tests.conftest import fresh_database

SAMPLES = ("sample_ifc_external",)


@pytest.fixture(scope="session")
def bim_url(database_url: str) -> str:
    url = fresh_database(database_url, "sitewatch_bim")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sitewatch.district (code, name, geom) VALUES ('330106', 'Xihu',"
            " ST_Multi(ST_MakeEnvelope(-180, -85, 180, 85, 4490)))")
    return url


@pytest.fixture
def bim_conn(bim_url: str):
    with db.connect(bim_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bim-data")


@pytest.fixture
def settings() -> IngestSettings:
    return IngestSettings(timeout_s=300, memory_limit_mb=4096, worker=False)


def make_project(conn: psycopg.Connection, code: str, lon: float, lat: float, *,
                 half_size_m: float = 60.0) -> str:
    """Create (or replace) project ``code`` with a square footprint centred on lon/lat."""
    dlat = half_size_m / 111_320.0
    dlon = half_size_m / (111_320.0 * math.cos(math.radians(lat)))
    conn.execute("DELETE FROM sitewatch.project WHERE code = %s", (code,))
    conn.execute(
        "INSERT INTO sitewatch.project (code, name, district_code, type, stage, footprint)"
        " VALUES (%s, %s, '330106', 'housing', 'under_construction',"
        " ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4490)))",
        (code, f"test project {code}", lon - dlon, lat - dlat, lon + dlon, lat + dlat))
    return code
