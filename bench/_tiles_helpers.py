"""Helpers of bench/tiles.py: the database, the two tile servers and the SQL floor.

Kept apart from ``_common.py`` (shared, generic) and from ``ogc_items.py`` (whose peers serve
features, not tiles); the patterns are the same: a private cluster in a temporary
``SITEWATCH_DATA`` or a scratch database on ``SITEWATCH_DATABASE_URL``, servers as process
groups on free ports, stopped on exit.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

try:  # run as a script (bench/ is on sys.path) or as the module bench._tiles_helpers
    import _common as common
except ImportError:  # pragma: no cover
    from bench import _common as common

from spatial import db, sample_city
from spatial.collections import PROJECTS
from tiles import tms, vector
from tiles.settings import TileSettings

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


Database = common.BenchDatabase


def load_city(url: str, projects: int) -> dict[str, str]:
    with db.connect(url) as conn:
        db.migrate(conn)
        sample_city.load(conn, projects=projects, seed=1)
        conn.commit()
    with db.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        pg, postgis = conn.execute(
            "SELECT current_setting('server_version'), postgis_lib_version()").fetchone()
    return {"postgresql": pg, "postgis": postgis}


@dataclass
class Server:
    name: str
    process: common.ServerProcess
    tile_path: Callable[[int, int, int], str]   # (z, y, x) -> path
    layout: str


def start_ours(url: str, data: Path, workers: int, threads: int) -> Server:
    process = common.start_sitewatch(url, data, workers, threads, HOST)
    return Server("ours", process,
                  lambda z, y, x: f"/ogc/collections/projects/tiles/WebMercatorQuad/{z}/{y}/{x}",
                  f"sitewatch serve: gunicorn gthread, {workers} workers x {threads} threads")


def asyncpg_url(info: dict[str, str]) -> str:
    """A URL TiPG's settings accept and asyncpg reads (a socket folder goes in the netloc)."""
    user = quote(info.get("user", ""), safe="")
    password = f":{quote(info['password'], safe='')}" if info.get("password") else ""
    host = quote(info.get("host") or "localhost", safe="")
    port = info.get("port") or "5432"
    return f"postgresql://{user}{password}@{host}:{port}/{quote(info['dbname'], safe='')}"


def start_tipg(info: dict[str, str], data: Path, workers: int) -> common.ServerProcess:
    port = common.free_port()
    env = common.server_env(
        DATABASE_URL=asyncpg_url(info),
        TIPG_DB_SCHEMAS='["sitewatch"]',
        TIPG_DB_TABLES='["sitewatch.project"]',   # only the project table, no functions
        TIPG_DB_FUNCTIONS="[]",
        TIPG_TABLE_CONFIG__SITEWATCH_PROJECT__PK="code",
        TIPG_TABLE_CONFIG__SITEWATCH_PROJECT__GEOMCOL="footprint",
        TIPG_MAX_FEATURES_PER_TILE="10000",       # its default; ours too
    )
    return common.ServerProcess(
        "tipg", [str(BIN / "uvicorn"), "tipg.main:app", "--host", HOST, "--port", str(port),
                 "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        port=port, env=env, log=data / "logs" / "tipg.log",
        ready_path="/collections/sitewatch.project",
    ).start()


def tipg_servers(process: common.ServerProcess, workers: int, properties: str) -> list[Server]:
    """TiPG as it comes (every column) and asked for the properties our overview tiles carry."""
    base = "/collections/sitewatch.project/tiles/WebMercatorQuad"
    layout = f"uvicorn, {workers} worker processes (asyncio, asyncpg)"
    return [
        Server("TiPG", process, lambda z, y, x: f"{base}/{z}/{x}/{y}", layout),
        Server("TiPG props", process,
               lambda z, y, x: f"{base}/{z}/{x}/{y}?properties={properties}", layout),
    ]


def floor_call(url: str, tiles: list[tuple[int, int, int]]) -> Callable[[], Callable[[], object]]:
    """Per client thread: an autocommit connection with our pool's session settings running our
    tile statement, round-robin over ``tiles`` (prepared, binary, as api/tiles.py runs it) with
    no HTTP, Flask or pool above it."""
    settings = TileSettings()
    starts = itertools.count()

    def make() -> Callable[[], object]:
        conn = psycopg.connect(url, autocommit=True, application_name="bench-floor",
                               options=db.POOL_OPTIONS)   # the session our pool gives tiles
        layer = vector.build_layer(conn, PROJECTS, settings)
        jobs = [(layer.query(z), vector.tile_params(settings, tms.TileAddress(
            "WebMercatorQuad", z, y, x))) for z, y, x in tiles]
        cur = conn.cursor(binary=True)
        state = {"i": next(starts)}  # clients start on different tiles, as the HTTP ones do

        def call() -> object:
            query, params = jobs[state["i"] % len(jobs)]
            state["i"] += 1
            return cur.execute(query, params, prepare=True).fetchone()

        call.conn = conn  # type: ignore[attr-defined]
        return call

    return make


def tipg_sql_call(url: str, tiles: list[tuple[int, int, int]]) -> Callable[[], Callable[[], object]]:
    """TiPG's own tile statement (as tipg 1.6 composes it for sitewatch.project: every column,
    buffer 256, ``ORDER BY code LIMIT 10000``) through psycopg, like the floor: the tile SQL of
    the two servers compared without either server's HTTP stack."""
    from pyproj import Transformer

    wmq = tms.get("WebMercatorQuad")
    to_4490 = Transformer.from_crs(3857, 4490, always_xy=True)
    starts = itertools.count()

    def statement(conn: psycopg.Connection, z: int, y: int, x: int) -> str:
        cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'sitewatch' "
            "AND table_name = 'project' AND column_name <> 'footprint' ORDER BY ordinal_position")]
        b = wmq.xy_bounds(x, y, z)
        w, s, e, n = to_4490.transform_bounds(b.left, b.bottom, b.right, b.top)
        props = ", ".join(f'"{c}"' for c in cols)
        return (
            f"WITH t AS (SELECT {props}, ST_AsMVTGeom(ST_Transform(CAST(\"footprint\" AS geometry), "
            f"3857), ST_Segmentize(ST_MakeEnvelope({b.left}, {b.bottom}, {b.right}, {b.top}), "
            f"{b.right - b.left}), 4096, 256, TRUE) AS geom FROM sitewatch.project WHERE "
            f"ST_Intersects(\"footprint\", ST_SetSRID(ST_MakeEnvelope({w}, {s}, {e}, {n}), 4490)) "
            f"ORDER BY \"code\" LIMIT 10000) SELECT ST_AsMVT(t.*, 'default') FROM t")

    def make() -> Callable[[], object]:
        conn = psycopg.connect(url, autocommit=True, application_name="bench-tipg-sql")
        jobs = [statement(conn, *t) for t in tiles]
        cur = conn.cursor(binary=True)
        state = {"i": next(starts)}

        def call() -> object:
            query = jobs[state["i"] % len(jobs)]
            state["i"] += 1
            return cur.execute(query, prepare=True).fetchone()

        call.conn = conn  # type: ignore[attr-defined]
        return call

    return make
