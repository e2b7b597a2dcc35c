"""Numbered migrations: applied once, recorded, each in one transaction."""

from __future__ import annotations

import psycopg
import pytest

from spatial import db
from tests.conftest import fresh_database


def test_migrate_is_idempotent_and_recorded(database_url: str):
    url = fresh_database(database_url, "sitewatch_migrations")
    with db.connect(url) as conn:
        assert db.migrate(conn) == []  # fresh_database already applied everything
        versions = db.applied(conn)
        assert versions == [v for v, _, _ in db.migrations()]
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sitewatch'")}
        assert {"district", "enterprise", "project", "project_stage_history", "api_token",
                "schema_migration"} <= tables
        srid = conn.execute("SELECT Find_SRID('sitewatch', 'project', 'footprint')").fetchone()[0]
        assert srid == 4490


def test_a_failing_migration_leaves_nothing(database_url: str, monkeypatch):
    url = fresh_database(database_url, "sitewatch_migrations_fail")
    bad = (9999, "9999_broken.sql",
           "CREATE TABLE sitewatch.half_done (x int); SELECT no_such_function();")
    monkeypatch.setattr(db, "migrations", lambda: [bad])
    with db.connect(url) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction):
            db.migrate(conn)
        conn.rollback()
        assert conn.execute("SELECT to_regclass('sitewatch.half_done')").fetchone()[0] is None
        assert 9999 not in db.applied(conn)


def test_migration_files_are_numbered_without_gaps():
    versions = [v for v, _, _ in db.migrations()]
    assert versions == list(range(1, len(versions) + 1))
