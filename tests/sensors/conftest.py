"""Fixtures for the sensor tests: a database with a small ledger, a Mosquitto of the tests' own
(free port, persistence on, temporary folder), the ingest worker as a real subprocess."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from sensors.broker import Mosquitto
from spatial import db, sample_city
from tests.conftest import fresh_database
from tests.mqtt_support import WorkerProcess

SITEWATCH = Path(sys.executable).parent / "sitewatch"
LOCAL = timezone(timedelta(hours=8))


@pytest.fixture(scope="session")
def sensors_url(database_url: str) -> str:
    """A database of the sensor tests' own with a 40-project sample ledger."""
    url = fresh_database(database_url, "sitewatch_sensors")
    with db.connect(url) as conn:
        sample_city.load(conn, projects=40, seed=5)
        conn.commit()
    return url


@pytest.fixture
def sconn(sensors_url: str):
    """An autocommit connection on an emptied sensor set-up (ledger kept)."""
    with psycopg.connect(sensors_url, autocommit=True) as conn:
        conn.execute("TRUNCATE sitewatch.sensor, sitewatch.dead_letter, sitewatch.webhook, "
                     "sitewatch.poi, sitewatch.project_sensor_rules CASCADE")
        yield conn


@pytest.fixture(scope="session")
def projects(sensors_url: str) -> list[dict]:
    """Projects of the test ledger: code, district, a point inside the footprint."""
    with psycopg.connect(sensors_url) as conn:
        rows = conn.execute(
            "SELECT code, district_code, ST_X(c), ST_Y(c) FROM (SELECT code, district_code, "
            "ST_PointOnSurface(footprint) c FROM sitewatch.project) s ORDER BY code").fetchall()
    return [{"code": r[0], "district": r[1], "lon": r[2], "lat": r[3]} for r in rows]


def add_sensor(conn: psycopg.Connection, project_code: str, code: str, kind: str, unit: str, *,
               lon: float = 120.15, lat: float = 30.28, rules: dict | None = None,
               profile: str = "standard") -> int:
    return conn.execute(
        "INSERT INTO sitewatch.sensor (project_id, code, kind, unit, location, profile, rules) "
        "SELECT id, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s, 0), 4490), %s, %s "
        "FROM sitewatch.project WHERE code = %s RETURNING id",
        (code, kind, unit, lon, lat, profile, Jsonb(rules or {}), project_code)).fetchone()[0]


def local_midnight(days_ago: int) -> datetime:
    """Midnight in Asia/Shanghai ``days_ago`` days before today."""
    today = datetime.now(LOCAL).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("mosquitto")
    folder.chmod(0o755)
    with Mosquitto(folder) as mq:
        yield mq


@pytest.fixture
def worker_factory(tmp_path: Path, sensors_url: str):
    made: list[WorkerProcess] = []

    def make(mqtt_url: str, client_id: str = "sitewatch-ingest-test", *,
             fast_io: bool = True) -> WorkerProcess:
        w = WorkerProcess(sensors_url, mqtt_url, tmp_path, client_id, fast_io)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()
