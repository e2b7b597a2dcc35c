"""Session fixtures: a real PostGIS database, never a mock.

Without ``SITEWATCH_DATABASE_URL`` the session starts a throwaway private cluster (``initdb`` +
``pg_ctl``, fsync off) in a temporary folder and stops it at the end.  With it, the session
creates a scratch database on that server and drops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from spatial import cluster, db
from spatial.settings import DatabaseSettings

# The web app's daily progress pass would write month-end card checks into the shared test
# databases at moments no test controls; tests run refresh_all / the refresher themselves.
os.environ.setdefault("SITEWATCH_PROGRESS_DAILY", "0")

SHARED = Path(__file__).resolve().parents[2] / "shared"
if os.environ.get("SITEWATCH_SHARED"):
    SHARED = Path(os.environ["SITEWATCH_SHARED"])


def shared_file(*parts: str) -> Path:
    """A file from ../shared, or a skip that says exactly what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"external test data is absent: {path} (see ../shared/*/SOURCES.md)")
    return path


@pytest.fixture(scope="session")
def database_url():
    external = os.environ.get("SITEWATCH_DATABASE_URL")
    if external:
        name = f"sitewatch_test_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(external, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        info = psycopg.conninfo.conninfo_to_dict(external)
        info["dbname"] = name
        yield psycopg.conninfo.make_conninfo(**info)
        with psycopg.connect(external, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        return
    # Not under pytest's own temp folder: it is closed to other users, and as root the cluster
    # runs as the unprivileged system user, which must reach its data folder.
    data = Path(tempfile.mkdtemp(prefix="sitewatch-test-"))
    data.chmod(0o755)
    settings = DatabaseSettings(data=data, database_url=None)
    url = cluster.start(settings, extra_options="-c fsync=off -c synchronous_commit=off "
                        "-c full_page_writes=off")
    yield url
    cluster.stop(settings)
    shutil.rmtree(data, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """Create (or recreate) database ``name`` on the server of ``server_url``, migrated."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = name
    url = psycopg.conninfo.make_conninfo(**info)
    with db.connect(url) as conn:
        db.migrate(conn)
    return url


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    with db.connect(database_url) as conn:
        db.migrate(conn)
    return database_url


@pytest.fixture
def conn(migrated_url: str):
    """A connection for one test (autocommit off; what a test commits stays)."""
    with db.connect(migrated_url) as connection:
        yield connection
