"""Fixtures for the sensor tests: a database with a small ledger, a Mosquitto of the tests' own
(free port, persistence on, temporary folder), the ingest worker as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from sensors.broker import Mosquitto
from spatial import db, sample_city
from tests.conftest import fresh_database

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


class WorkerProcess:
    """``sitewatch ingest mqtt`` as a user runs it, in its own process group."""

    def __init__(self, database_url: str, mqtt_url: str, data: Path, client_id: str,
                 fast_io: bool = True) -> None:
        self.fast_io = fast_io
        self.database_url = database_url
        self.mqtt_url = mqtt_url
        self.data = data
        self.client_id = client_id
        self.log = data / "ingest.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SITEWATCH_")}
        env.update(SITEWATCH_DATABASE_URL=self.database_url, SITEWATCH_DATA=str(self.data),
                   SITEWATCH_NOTIFY_POLL_S="0.2",
                   SITEWATCH_MQTT_FAST_IO="true" if self.fast_io else "false")
        self.starts += 1
        mark = f"subscribed to sitewatch/+/+ on {self.mqtt_url}"
        seen = self.log.read_text().count(mark) if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(SITEWATCH), "ingest", "mqtt", "--url", self.mqtt_url,
                 "--client-id", self.client_id], env=env, cwd=self.data, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ingest worker exited:\n{self.tail()}")
            if self.log.exists() and self.log.read_text().count(mark) > seen:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"ingest worker did not subscribe:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) \
            if self.log.exists() else "(no log)"

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


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
