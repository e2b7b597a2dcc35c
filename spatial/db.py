"""Connections, the pool and numbered migrations.

Migrations are ``spatial/sql/NNNN_name.sql`` files, applied in order, each in one transaction and
recorded in ``sitewatch.schema_migration``.  An advisory lock serialises concurrent migrators.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import psycopg
from psycopg_pool import ConnectionPool

from spatial import cluster
from spatial.settings import DatabaseSettings

logger = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK = 0x5173_7761  # arbitrary advisory-lock key for migrations


def resolve_url(settings: DatabaseSettings, *, start: bool = True) -> str:
    """The database URL: ``SITEWATCH_DATABASE_URL`` when set, else the private cluster's.

    With ``start`` the private cluster is started (or reused) first.
    """
    if settings.database_url:
        return settings.database_url
    if start:
        return cluster.start(settings)
    return cluster.Cluster.from_settings(settings).url


def connect(url: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url, **kwargs)


# Session settings of the serving pool.  Request values arrive as bound parameters of prepared
# statements; a generic plan would ignore them (e.g. plan a city-wide bbox like a tiny one), so
# plans are always made for the actual values.  Parallel workers cost more than they save for
# page-sized queries on a few cores.
POOL_OPTIONS = "-c plan_cache_mode=force_custom_plan -c max_parallel_workers_per_gather=0"


def create_pool(url: str, *, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    """A pool of autocommit connections: reads need no BEGIN/ROLLBACK round trips, and writes
    open their own ``conn.transaction()``."""
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, open=False, name="sitewatch",
        kwargs={"application_name": "sitewatch", "autocommit": True, "options": POOL_OPTIONS},
    )
    pool.open(wait=True, timeout=30)
    return pool


def migrations() -> list[tuple[int, str, str]]:
    """All migration files as (version, name, sql text), in order."""
    found = []
    for entry in resources.files("spatial.sql").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    applied_now: list[str] = []
    conn.autocommit = False
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS sitewatch")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS sitewatch.schema_migration ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    for version, name, text in migrations():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            done = conn.execute(
                "SELECT 1 FROM sitewatch.schema_migration WHERE version = %s", (version,)
            ).fetchone()
            if done:
                continue
            logger.info("applying migration %s", name)
            conn.execute(text)
            conn.execute(
                "INSERT INTO sitewatch.schema_migration (version, name) VALUES (%s, %s)",
                (version, name),
            )
            applied_now.append(name)
    return applied_now


def applied(conn: psycopg.Connection) -> list[int]:
    rows = conn.execute("SELECT version FROM sitewatch.schema_migration ORDER BY version").fetchall()
    return [r[0] for r in rows]
