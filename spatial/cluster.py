"""The private PostgreSQL + PostGIS cluster under ``$SITEWATCH_DATA/pg``.

It is started with the distribution's own binaries (Debian's ``/usr/lib/postgresql/N/bin`` or a
conda environment's ``bin``), listens only on a Unix socket in ``$SITEWATCH_DATA/pg`` and is reused
by the next start.  PostgreSQL refuses to run as root, so when SiteWatch runs as root the server
runs as an unprivileged system user (``SITEWATCH_PG_SYSTEM_USER``, default ``sitewatch``) that owns
the cluster folder; root can still read and connect to everything in it.

Starts are serialised by a file lock, so two concurrent ``sitewatch db start`` end with one server.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from filelock import FileLock

from spatial.errors import ClusterError
from spatial.settings import DatabaseSettings

logger = logging.getLogger(__name__)

DATABASE_NAME = "sitewatch"
SUPERUSER = "sitewatch"

INSTALL_HINT = (
    "PostgreSQL server binaries with PostGIS were not found.\n"
    "Install them with one of:\n"
    "  sudo apt-get install -y postgresql postgresql-15-postgis-3\n"
    "  conda install -c conda-forge postgresql postgis\n"
    "or point SiteWatch at an existing PostGIS server with SITEWATCH_DATABASE_URL."
)


@dataclass(frozen=True)
class Cluster:
    """Paths and identity of the private cluster for one ``SITEWATCH_DATA`` folder."""

    root: Path  # $SITEWATCH_DATA/pg: socket, log, lock
    port: int
    system_user: str

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def socket(self) -> Path:
        return self.root / f".s.PGSQL.{self.port}"

    @property
    def url(self) -> str:
        host = quote(str(self.root), safe="")
        return f"postgresql://{SUPERUSER}@/{DATABASE_NAME}?host={host}&port={self.port}"

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Cluster:
        return cls(
            root=settings.data_dir / "pg",
            port=settings.pg_port,
            system_user=settings.pg_system_user,
        )


def find_bindir() -> Path:
    """Return the folder holding ``initdb`` and ``pg_ctl`` beside a PostGIS install.

    A conda environment's ``bin`` (first on PATH) wins, then Debian's versions, newest first.
    """
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
        )
        candidates += [v / "bin" for v in versions]
    servers = [b for b in candidates if (b / "initdb").exists() and (b / "pg_ctl").exists()]
    for bindir in servers:
        if _postgis_available(bindir):
            return bindir
    raise ClusterError(INSTALL_HINT)


def _postgis_available(bindir: Path) -> bool:
    """True when the PostGIS extension files sit beside these server binaries."""
    pg_config = bindir / "pg_config"
    sharedirs = []
    if pg_config.exists():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0:
            sharedirs.append(Path(out.stdout.strip()))
    if bindir.parent.parent.name == "postgresql":  # Debian: /usr/lib/postgresql/15/bin
        sharedirs.append(Path("/usr/share/postgresql") / bindir.parent.name)
    sharedirs.append(bindir.parent / "share" / "postgresql")  # conda
    sharedirs.append(bindir.parent / "share")
    return any((d / "extension" / "postgis.control").exists() for d in sharedirs)


def _run_as(cluster: Cluster) -> str | None:
    """The system user to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(cluster.system_user)
    except KeyError:
        logger.info("creating system user %s for the private cluster", cluster.system_user)
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        res = subprocess.run(
            [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", cluster.system_user],
            capture_output=True, text=True,
        )
        if res.returncode not in (0, 9):  # 9: already exists (a concurrent start made it)
            raise ClusterError(f"could not create system user {cluster.system_user}: {res.stderr}") from None
    return cluster.system_user


def _command(cmd: list[str], user: str | None, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    if user:
        kw.setdefault("cwd", "/")
        return subprocess.run(cmd, user=user, group=pwd.getpwnam(user).pw_gid,
                              capture_output=True, text=True, env=env, **kw)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


def _prepare_root(cluster: Cluster, user: str | None) -> None:
    cluster.root.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    pw = pwd.getpwnam(user)
    os.chown(cluster.root, pw.pw_uid, pw.pw_gid)
    os.chmod(cluster.root, 0o755)
    check = _command(["test", "-w", str(cluster.root)], user)
    if check.returncode != 0:
        raise ClusterError(
            f"the system user {user} cannot reach {cluster.root}: a parent folder is closed to "
            f"other users. Set SITEWATCH_DATA to a folder outside it (e.g. /var/lib/sitewatch)."
        )


def is_running(cluster: Cluster) -> bool:
    if not (cluster.pgdata / "PG_VERSION").exists():
        return False
    res = _command([str(find_bindir() / "pg_ctl"), "status", "-D", str(cluster.pgdata)],
                   _run_as(cluster))
    return res.returncode == 0


def _initdb(cluster: Cluster, bindir: Path, user: str | None) -> None:
    logger.info("initialising the private cluster in %s", cluster.pgdata)
    res = _command(
        [str(bindir / "initdb"), "-D", str(cluster.pgdata), "-U", SUPERUSER, "--auth=trust",
         "-E", "UTF8", "--locale=C.UTF-8"],
        user,
    )
    if res.returncode != 0:
        shutil.rmtree(cluster.pgdata, ignore_errors=True)
        raise ClusterError(f"initdb failed:\n{res.stderr or res.stdout}")
    # Socket only: no TCP port to collide with a system PostgreSQL.  fsync stays on: readings
    # and progress reports must survive a power cut.
    with open(cluster.pgdata / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(
            "\n# SiteWatch private cluster\n"
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{cluster.root}'\n"
            "unix_socket_permissions = 0777\n"
            "max_connections = 200\n"
            "shared_buffers = 256MB\n"
            "work_mem = 16MB\n"
            "maintenance_work_mem = 256MB\n"
            "wal_level = minimal\n"
            "max_wal_senders = 0\n"
            "synchronous_commit = on\n"
            "jit = off\n"
            "timezone = 'UTC'\n"
        )


def start(settings: DatabaseSettings, *, extra_options: str = "") -> str:
    """Start (or reuse) the private cluster and return its connection URL.

    ``extra_options`` go to ``postgres`` on the command line (tests pass ``-c fsync=off``).
    """
    cluster = Cluster.from_settings(settings)
    bindir = find_bindir()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.data_dir / "pg.lock"), timeout=120):
        user = _run_as(cluster)
        _prepare_root(cluster, user)
        if not (cluster.pgdata / "PG_VERSION").exists():
            _initdb(cluster, bindir, user)
        if not is_running(cluster):
            _pg_start(cluster, bindir, user, extra_options)
        _ensure_database(cluster)
    _write_run_url(settings, cluster.url)
    return cluster.url


def _pg_start(cluster: Cluster, bindir: Path, user: str | None, extra_options: str) -> None:
    if cluster.socket.exists() and not (cluster.pgdata / "postmaster.pid").exists():
        lock = Path(str(cluster.socket) + ".lock")
        if lock.exists():
            raise ClusterError(
                f"the socket {cluster.socket} is held by another PostgreSQL server "
                f"({lock.read_text().split()[0] if lock.read_text() else '?'}); stop it or set "
                "SITEWATCH_PG_PORT to another number"
            )
    opts = f"-k {cluster.root} -p {cluster.port} {extra_options}".strip()
    res = _command(
        [str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(cluster.pgdata),
         "-l", str(cluster.log_file), "-o", opts],
        user,
    )
    if res.returncode != 0:
        tail = ""
        if cluster.log_file.exists():
            tail = "\n".join(cluster.log_file.read_text(errors="replace").splitlines()[-15:])
        if "already in use" in tail or "lock file" in tail:
            raise ClusterError(
                f"the socket {cluster.socket} is taken by another server; stop it or set "
                f"SITEWATCH_PG_PORT to another number.\n{tail}"
            )
        raise ClusterError(f"pg_ctl start failed:\n{res.stderr}\n{tail}")


def _ensure_database(cluster: Cluster) -> None:
    import psycopg
    from psycopg import sql

    admin = cluster.url.replace(f"/{DATABASE_NAME}?", "/postgres?")
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
                ).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"the private cluster does not answer: {exc}") from exc
            time.sleep(0.2)


def stop(settings: DatabaseSettings) -> bool:
    """Stop the private cluster; False when it was not running."""
    cluster = Cluster.from_settings(settings)
    if not is_running(cluster):
        return False
    res = _command(
        [str(find_bindir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(cluster.pgdata)],
        _run_as(cluster),
    )
    if res.returncode != 0:
        raise ClusterError(f"pg_ctl stop failed:\n{res.stderr}")
    run_url = settings.run_dir / "database.url"
    run_url.unlink(missing_ok=True)
    return True


def _write_run_url(settings: DatabaseSettings, url: str) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    (settings.run_dir / "database.url").write_text(url + "\n", encoding="utf-8")
