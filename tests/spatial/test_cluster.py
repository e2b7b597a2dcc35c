"""The private cluster: started, reused, safe against concurrent starts, stopped."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from spatial import cluster
from spatial.errors import ClusterError
from spatial.settings import DatabaseSettings


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="sitewatch-cluster-"))
    path.chmod(0o755)
    yield path
    settings = DatabaseSettings(data=path, database_url=None, pg_port=5433)
    try:
        cluster.stop(settings)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_start_reuse_and_stop(data_dir: Path):
    settings = DatabaseSettings(data=data_dir, database_url=None, pg_port=5433)
    url = cluster.start(settings, extra_options="-c fsync=off")
    pg = data_dir / "pg"
    assert (pg / ".s.PGSQL.5433").is_socket(), "listens on a Unix socket in $SITEWATCH_DATA/pg"
    assert (data_dir / "run" / "database.url").read_text().strip() == url
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid(), current_setting('listen_addresses')").fetchone()
        assert pid[1] == "", "no TCP port is opened"
        conn.execute("CREATE TABLE kept (x int)")
        conn.commit()
    postmaster = (pg / "data" / "postmaster.pid").read_text().split()[0]

    assert cluster.start(settings) == url  # reused, not re-initialised
    assert (pg / "data" / "postmaster.pid").read_text().split()[0] == postmaster

    assert cluster.stop(settings) is True
    assert not (pg / ".s.PGSQL.5433").exists()
    assert cluster.stop(settings) is False

    cluster.start(settings)  # the same data comes back after a restart
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('public.kept') IS NOT NULL").fetchone()[0]


def test_concurrent_starts_end_with_one_server(data_dir: Path):
    settings = DatabaseSettings(data=data_dir, database_url=None, pg_port=5433)
    urls, failures = [], []

    def start():
        try:
            urls.append(cluster.start(settings, extra_options="-c fsync=off"))
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(set(urls)) == 1
    with psycopg.connect(urls[0]) as conn:
        n = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'checkpointer'").fetchone()[0]
        assert n == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged system user exists only for root")
def test_root_runs_the_server_as_a_system_user(data_dir: Path):
    import pwd

    settings = DatabaseSettings(data=data_dir, database_url=None, pg_port=5433)
    cluster.start(settings, extra_options="-c fsync=off")
    owner = pwd.getpwuid((data_dir / "pg" / "data").stat().st_uid).pw_name
    assert owner == settings.pg_system_user
    assert stat.S_IMODE((data_dir / "pg" / "data").stat().st_mode) == 0o700


def test_socket_taken_by_another_server_is_a_clear_error(data_dir: Path, tmp_path: Path):
    first = DatabaseSettings(data=data_dir, database_url=None, pg_port=5433)
    cluster.start(first, extra_options="-c fsync=off")
    # A second cluster told to put its socket in the same folder under the same number.
    other = Path(tempfile.mkdtemp(prefix="sitewatch-other-"))
    other.chmod(0o755)
    second = DatabaseSettings(data=other, database_url=None, pg_port=5433)
    try:
        with pytest.raises(ClusterError, match="taken|held"):
            cluster.start(second, extra_options=f"-c fsync=off -k {data_dir / 'pg'}")
    finally:
        cluster.stop(second)
        shutil.rmtree(other, ignore_errors=True)


def test_missing_binaries_say_how_to_install(monkeypatch):
    monkeypatch.setattr(cluster, "_postgis_available", lambda bindir: False)
    with pytest.raises(ClusterError) as info:
        cluster.find_bindir()
    assert "apt-get install" in str(info.value) and "SITEWATCH_DATABASE_URL" in str(info.value)
