"""The ``sitewatch`` console script, run as a user runs it (a subprocess), against a database
of its own on the session's server (``SITEWATCH_DATABASE_URL`` set: nothing is started)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from spatial import db, tokens
from tests.conftest import fresh_database

SITEWATCH = Path(sys.executable).parent / "sitewatch"
MIGRATIONS = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "spatial" / "sql")
                    .glob("[0-9][0-9][0-9][0-9]_*.sql"))


def _other_db_url(server_url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


def _drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture(scope="module")
def cli_url(database_url: str):
    url = fresh_database(database_url, "sitewatch_cli")
    yield url
    _drop(database_url, "sitewatch_cli")


@pytest.fixture
def empty_url(database_url: str):
    """A database with nothing in it (not migrated)."""
    name = "sitewatch_cli_empty"
    _drop(database_url, name)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _other_db_url(database_url, name)
    _drop(database_url, name)


def run(url: str, data: Path, *args: str) -> subprocess.CompletedProcess:
    assert SITEWATCH.exists(), f"console script missing: {SITEWATCH} (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITEWATCH_")}
    env.update(SITEWATCH_DATABASE_URL=url, SITEWATCH_DATA=str(data))
    return subprocess.run([str(SITEWATCH), *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=data)


def test_db_migrate_is_idempotent(cli_url, tmp_path):
    for _ in range(2):
        done = run(cli_url, tmp_path, "db", "migrate")
        assert done.returncode == 0, done.stderr
        assert "schema is up to date" in done.stdout
    with db.connect(cli_url) as conn:
        versions = [r[0] for r in conn.execute(
            "SELECT name FROM sitewatch.schema_migration ORDER BY version").fetchall()]
    assert versions == MIGRATIONS


def test_db_migrate_on_an_empty_database(empty_url, tmp_path):
    first = run(empty_url, tmp_path, "db", "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied: ")
    for name in MIGRATIONS:
        assert name in first.stdout
    second = run(empty_url, tmp_path, "db", "migrate")
    assert second.returncode == 0, second.stderr
    assert "schema is up to date" in second.stdout
    with db.connect(empty_url) as conn:
        assert conn.execute("SELECT to_regclass('sitewatch.project') IS NOT NULL").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM sitewatch.schema_migration").fetchone()[0] == \
            len(MIGRATIONS)


def test_token_create_prints_a_working_admin_token(cli_url, tmp_path):
    done = run(cli_url, tmp_path, "token", "create", "--role", "admin", "--label", "cli-test")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    token = lines[0].strip()
    assert len(token) >= 32
    with db.connect(cli_url) as conn:
        found = tokens.lookup(conn, token)
        assert found is not None and found.role == "admin"
        # Only the hash is stored.
        stored = conn.execute("SELECT count(*) FROM sitewatch.api_token"
                              " WHERE token_hash = sha256(convert_to(%s, 'UTF8'))",
                              (token,)).fetchone()[0]
        assert stored == 1
        assert conn.execute("SELECT count(*) FROM sitewatch.api_token t"
                            " WHERE position(%s in t::text) > 0", (token,)).fetchone()[0] == 0


def test_token_create_rejects_an_unknown_role(cli_url, tmp_path):
    done = run(cli_url, tmp_path, "token", "create", "--role", "root")
    assert done.returncode != 0
    assert "root" in done.stderr


def test_db_url_prints_the_url(cli_url, tmp_path):
    done = run(cli_url, tmp_path, "db", "url")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == cli_url


def test_db_start_with_a_database_url_starts_nothing(cli_url, tmp_path):
    done = run(cli_url, tmp_path, "db", "start")
    assert done.returncode == 0, done.stderr
    assert "nothing to start" in done.stderr
    assert done.stdout.strip() == cli_url
    assert not (tmp_path / "pg").exists()
    stop = run(cli_url, tmp_path, "db", "stop")
    assert stop.returncode == 0, stop.stderr
    assert "nothing of ours to stop" in stop.stderr
