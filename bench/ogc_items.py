"""OGC API Features items: SiteWatch against TiPG, stock pygeoapi and the SQL floor, in one run.

Run::

    .venv/bin/python bench/ogc_items.py [--projects 100000] [--seconds 10] [--concurrency 8]

One database (a private cluster in a temporary SITEWATCH_DATA, or a scratch database on the
server of SITEWATCH_DATABASE_URL) holds the sample city.  Three servers read it, each its own
process group on a free 127.0.0.1 port with the same number of worker processes:

* ours      ``sitewatch serve`` (gunicorn gthread, workers × threads from ``worker_layout``);
* TiPG      ``uvicorn tipg.main:app --workers W`` (asyncio + asyncpg, one event loop per worker);
* pygeoapi  stock pygeoapi 0.21, its ``PostgreSQL`` provider, under gunicorn gthread W × T.

Each workload is first fetched once from every server to check that ``numberReturned`` (and the
feature ids) agree; then every server, and the floor (our own SQL run straight through psycopg, one
connection per client thread), gets a warm-up and a closed-loop load of C clients for S seconds.
The table gives req/s, p50 and p95, and the target lines compare ours with each peer.  Everything
started here is stopped on exit, on an error and on Ctrl-C.  This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg

# Run as a script, bench/ is sys.path[0] and its tiles.py and viewer.py would shadow the packages
# of those names: the repository root takes its place.
_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "bench":
    sys.path[0] = str(_ROOT)
from api.settings import AppSettings
from bench import _common as common  # noqa: E402
from spatial import cql, db, features, sample_city
from spatial.collections import PROJECTS

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STORAGE_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"

# Targets: ours/TiPG req/s, ours/pygeoapi req/s (at least), ours p50 / floor p50 (at most).
TARGET_TIPG = 1.0
TARGET_PYGEOAPI = 3.0
TARGET_FLOOR = 1.5
# Each HTTP client opens a new connection after this many requests, so that connections spread
# over a server's worker processes (see common.http_load).
RECONNECT_EVERY = 20


@dataclass(frozen=True)
class Workload:
    name: str
    limit: int
    bbox: str | None = None
    filter: str | None = None

    def items_query(self) -> features.ItemsQuery:
        """The request as our endpoint parses it (for the floor)."""
        return features.ItemsQuery(
            limit=self.limit,
            bbox=features.parse_bbox(self.bbox) if self.bbox else None,
            filter=cql.parse(self.filter, "cql2-text") if self.filter else None,
        )


WORKLOADS = (
    # Central Hangzhou (上城/拱墅/西湖 around West Lake): ~1,800 projects of 100,000 in the sample.
    Workload("district bbox, limit=100", limit=100, bbox="120.13,30.24,120.18,30.29"),
    Workload("city bbox, limit=1000", limit=1000, bbox="119.9,30.1,120.5,30.45"),
    Workload("CQL2 stage+investment, limit=100", limit=100,
             filter="stage='under_construction' AND investment>50000"),
)


# -- the three servers -----------------------------------------------------------------------------

@dataclass
class Peer:
    name: str
    server: common.ServerProcess
    collection_path: str
    fmt: str                   # value of f= for GeoJSON
    filter_lang: str | None    # value of filter-lang=, None to leave it out
    layout: str                # what runs it, for the output
    bbox_params: dict[str, str] | None = None  # extra parameters sent with a bbox (a workaround)
    workaround: str = ""       # why bbox_params are needed, for the output

    def path(self, w: Workload, *, plain: bool = False) -> str:
        """The request for ``w``; ``plain`` leaves out the peer's bbox workaround."""
        params: dict[str, str | int] = {"f": self.fmt, "limit": w.limit}
        if w.bbox:
            params["bbox"] = w.bbox
            if self.bbox_params and not plain:
                params.update(self.bbox_params)
        if w.filter:
            params["filter"] = w.filter
            if self.filter_lang:
                params["filter-lang"] = self.filter_lang
        return f"{self.collection_path}/items?" + urlencode(params, quote_via=quote, safe=",")


def start_ours(url: str, data: Path, workers: int, threads: int) -> Peer:
    return Peer("ours", common.start_sitewatch(url, data, workers, threads, HOST),
                "/ogc/collections/projects", "json", "cql2-text",
                f"sitewatch serve: gunicorn gthread, {workers} workers x {threads} threads")


def _asyncpg_url(info: dict[str, str]) -> str:
    """A URL TiPG's settings (pydantic PostgresDsn) accept and asyncpg reads.

    pydantic rejects an empty host and asyncpg lets the netloc host win over ``?host=``, so a
    Unix-socket folder goes into the netloc, percent-encoded.
    """
    user = quote(info.get("user", ""), safe="")
    password = f":{quote(info['password'], safe='')}" if info.get("password") else ""
    host = quote(info.get("host") or "localhost", safe="")
    port = info.get("port") or "5432"
    return f"postgresql://{user}{password}@{host}:{port}/{quote(info['dbname'], safe='')}"


def start_tipg(info: dict[str, str], data: Path, workers: int) -> Peer:
    port = common.free_port()
    env = common.server_env(
        DATABASE_URL=_asyncpg_url(info),
        TIPG_DB_SCHEMAS='["sitewatch"]',
        # Publish only the project table: no other table, and none of the PostGIS functions that
        # the migration installed into schema sitewatch.
        TIPG_DB_TABLES='["sitewatch.project"]',
        TIPG_DB_FUNCTIONS="[]",
        TIPG_TABLE_CONFIG__SITEWATCH_PROJECT__PK="code",   # feature id = code, as ours
        TIPG_TABLE_CONFIG__SITEWATCH_PROJECT__GEOMCOL="footprint",
        TIPG_MAX_FEATURES_PER_QUERY="10000",              # the default; same as our max_limit
        TIPG_DEFAULT_FEATURES_LIMIT="10",
    )
    server = common.ServerProcess(
        "tipg", [str(BIN / "uvicorn"), "tipg.main:app", "--host", HOST, "--port", str(port),
                 "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        port=port, env=env, log=data / "logs" / "tipg.log",
        ready_path="/collections/sitewatch.project",
    )
    return Peer("TiPG", server.start(), "/collections/sitewatch.project", "geojson", "cql2-text",
                f"uvicorn, {workers} worker processes (asyncio; asyncpg pool <= 10 each)")


def _pygeoapi_config(info: dict[str, str], port: int) -> dict:
    data = {"host": info.get("host") or "localhost", "port": int(info.get("port") or 5432),
            "dbname": info["dbname"], "user": info.get("user", ""),
            "search_path": ["sitewatch"]}
    if info.get("password"):
        data["password"] = info["password"]
    return {
        "server": {
            "bind": {"host": HOST, "port": port},
            "url": f"http://{HOST}:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "gzip": False,
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "OpenStreetMap"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": "",
                               "url": "http://example.org"},
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "bench", "url": "http://example.org"},
            "contact": {"name": "bench", "email": "bench@example.org", "role": "pointOfContact"},
        },
        "resources": {
            "projects": {
                "type": "collection",
                "title": "projects",
                "description": "sitewatch.project through the stock PostgreSQL provider",
                "keywords": ["projects"],
                "links": [],
                "extents": {"spatial": {"bbox": [119.5, 29.8, 120.8, 30.6],
                                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
                "providers": [{
                    "type": "feature",
                    "name": "PostgreSQL",
                    "data": data,
                    "id_field": "code",
                    "table": "project",
                    "geom_field": "footprint",
                    "storage_crs": STORAGE_4490,
                    # 4490 is listed only so that the bbox workaround (see start_pygeoapi) may
                    # name it in bbox-crs; output stays CRS84, the first entry.
                    "crs": [CRS84_URI, STORAGE_4490],
                }],
            },
        },
    }


def start_pygeoapi(info: dict[str, str], data: Path, workers: int, threads: int) -> Peer:
    import yaml

    port = common.free_port()
    folder = data / "pygeoapi"
    folder.mkdir(parents=True, exist_ok=True)
    config, openapi = folder / "config.yml", folder / "openapi.yml"
    config.write_text(yaml.safe_dump(_pygeoapi_config(info, port), allow_unicode=True),
                      encoding="utf-8")
    env = common.server_env(PYGEOAPI_CONFIG=str(config), PYGEOAPI_OPENAPI=str(openapi))
    gen = subprocess.run([str(BIN / "pygeoapi"), "openapi", "generate", str(config),
                          "--output-file", str(openapi)], env=env, capture_output=True, text=True)
    if gen.returncode != 0:
        raise RuntimeError(f"pygeoapi openapi generate failed:\n{gen.stderr[-2000:]}")
    server = common.ServerProcess(
        "pygeoapi", [str(BIN / "gunicorn"), "--bind", f"{HOST}:{port}", "--workers", str(workers),
                     "--threads", str(threads), "--worker-class", "gthread", "--keep-alive", "5",
                     "--timeout", "120", "--log-level", "warning", "pygeoapi.flask_app:APP"],
        port=port, env=env, log=data / "logs" / "pygeoapi.log",
        ready_path="/collections/projects/items?limit=1&f=json",
    )
    # pygeoapi 0.21 turns a CRS84 bbox into the storage CRS with pyproj in the authority's axis
    # order (EPSG:4490 is lat,lon) and the PostgreSQL provider hands those numbers to
    # ST_MakeEnvelope as x,y: a plain bbox finds nothing.  Naming the storage CRS as bbox-crs
    # makes the transform an identity, so lon,lat numbers reach PostGIS unchanged.
    return Peer("pygeoapi", server.start(), "/collections/projects", "json", "cql-text",
                f"gunicorn gthread, {workers} workers x {threads} threads "
                "(stock PostgreSQL provider, SQLAlchemy + psycopg2)",
                bbox_params={"bbox-crs": STORAGE_4490},
                workaround="timed with bbox-crs=EPSG:4490 and the bbox still lon,lat")


# -- the database ----------------------------------------------------------------------------------

Database = common.BenchDatabase


def load_city(url: str, projects: int) -> tuple[dict, dict[str, str]]:
    with db.connect(url) as conn:
        db.migrate(conn)
        summary = sample_city.load(conn, projects=projects, seed=1)
        conn.commit()
    with db.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        pg, postgis = conn.execute(
            "SELECT current_setting('server_version'), postgis_lib_version()").fetchone()
    return summary, {"postgresql": pg, "postgis": postgis}


# -- checks and load -------------------------------------------------------------------------------

@dataclass
class Check:
    returned: int | None = None
    matched: int | None = None
    ids: list | None = None
    size: int = 0              # bytes on the wire
    first_xy: tuple[float, float] | None = None   # first vertex of the first feature
    error: str | None = None
    note: str = ""


def _first_xy(feature: dict) -> tuple[float, float] | None:
    coords = (feature.get("geometry") or {}).get("coordinates")
    while isinstance(coords, list) and coords and isinstance(coords[0], list):
        coords = coords[0]
    return (float(coords[0]), float(coords[1])) if coords else None


def check_peer(peer: Peer, w: Workload, *, plain: bool = False) -> Check:
    status, raw = common.fetch(peer.server.base_url + peer.path(w, plain=plain))
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if status != 200 or not isinstance(body, dict):
        return Check(error=f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
    feats = body.get("features", [])
    return Check(body.get("numberReturned", len(feats)), body.get("numberMatched"),
                 [f.get("id") for f in feats], len(raw), _first_xy(feats[0]) if feats else None)


def floor_call(url: str, w: Workload) -> Callable[[], Callable[[], object]]:
    """Per client thread: a connection and the statements ``features.query_items`` runs."""
    q = w.items_query()
    items, iparams = features.items_sql(PROJECTS, q)
    count, cparams = features.count_sql(PROJECTS, q)

    def make() -> Callable[[], object]:
        # The same session settings as the app's pool (spatial.db.POOL_OPTIONS): same plans.
        conn = psycopg.connect(url, autocommit=True, application_name="bench-floor",
                               options=db.POOL_OPTIONS)

        def call() -> object:
            text, returned = conn.execute(items, iparams, prepare=True).fetchone()
            if not (returned < q.limit and (returned > 0 or q.offset == 0)):
                conn.execute(count, cparams, prepare=True).fetchone()
            return text

        call.conn = conn  # type: ignore[attr-defined]
        return call

    return make


def floor_check(url: str, w: Workload) -> Check:
    with psycopg.connect(url) as conn:
        page = features.query_items(conn, PROJECTS, w.items_query())
    feats = json.loads(f"[{page.features}]")
    return Check(page.number_returned, page.number_matched, [f["id"] for f in feats],
                 first_xy=_first_xy(feats[0]) if feats else None)


def compare(c: Check, ours: Check) -> str:
    """How a peer's answer to the same request differs from ours, in words."""
    if c.error:
        return c.error
    if c.returned != ours.returned:
        note = f"numberReturned differs from ours ({ours.returned})"
    elif c.ids != ours.ids:
        shared = len(set(map(str, c.ids or [])) & set(map(str, ours.ids or [])))
        note = f"same count, different features ({shared} of {c.returned} shared)"
    else:
        note = "same features, same order"
    if c.matched is not None and ours.matched is not None and c.matched != ours.matched:
        note += f"; numberMatched {c.matched} vs ours {ours.matched}"
    if c.first_xy and ours.first_xy and c.ids and ours.ids and c.ids[0] == ours.ids[0]:
        dx = max(abs(a - b) for a, b in zip(c.first_xy, ours.first_xy))
        swapped = max(abs(a - b) for a, b in zip(c.first_xy[::-1], ours.first_xy))
        if dx < 1e-6:
            note += "; coordinates agree"
        elif swapped < 1e-6:
            note += "; COORDINATES SWAPPED (lat,lon where CRS84 is lon,lat)"
        else:
            note += f"; first vertex differs by {dx:.2g} deg"
    return note


def _size_check(expected: int) -> Callable[[int, bytes], str | None]:
    """A cheap guard that a 200 under load is still the page: at least half its checked size."""
    def check(status: int, body: bytes) -> str | None:
        return None if len(body) >= expected // 2 else f"short body ({len(body)} bytes)"
    return check


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per cell")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    args = parser.parse_args(argv)
    common.raise_on_sigterm()

    workers, threads = AppSettings().worker_layout()
    data = Path(tempfile.mkdtemp(prefix="sitewatch-bench-"))
    data.chmod(0o755)  # as root the cluster runs as 'sitewatch', which must reach its folder
    database = Database(data)
    peers: list[Peer] = []
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, data, ignore_errors=True)
        stack.callback(database.stop)
        url = database.start()
        where = ("a scratch database on SITEWATCH_DATABASE_URL" if database.external
                 else f"a private cluster in {data}")
        print(f"database: {where}", flush=True)
        t0 = time.monotonic()
        summary, versions = load_city(url, args.projects)
        print(f"sample city: {summary['projects']} projects, {summary['districts']} districts "
              f"(loaded + VACUUM ANALYZE in {time.monotonic() - t0:.1f} s)", flush=True)

        info = database.info()
        for start in (lambda: start_ours(url, data, workers, threads),
                      lambda: start_tipg(info, data, workers),
                      lambda: start_pygeoapi(info, data, workers, threads)):
            peer = start()
            stack.callback(peer.server.stop)
            peers.append(peer)
            print(f"started {peer.name:8} {peer.server.base_url}  ({peer.layout})", flush=True)

        # 1. Same logical request to each server: do the answers agree?
        print("\nchecks (one request each, before timing):", flush=True)
        checks: dict[tuple[str, str], Check] = {}
        check_rows = []
        for w in WORKLOADS:
            checks[(w.name, "floor")] = floor_check(url, w)
            for peer in peers:
                checks[(w.name, peer.name)] = check_peer(peer, w)
            ours = checks[(w.name, "ours")]
            for peer in peers:
                if not (w.bbox and peer.bbox_params):
                    continue
                plain = check_peer(peer, w, plain=True)
                checks[(w.name, peer.name)].note = (
                    f"{peer.workaround}; the plain request gives "
                    + (plain.error or f"numberReturned {plain.returned}, "
                                      f"numberMatched {plain.matched}"))
            for name in [p.name for p in peers] + ["floor"]:
                c = checks[(w.name, name)]
                note = compare(c, ours) + (f" [{c.note}]" if c.note else "")
                check_rows.append([w.name, name, "error" if c.error else c.returned,
                                   "n/a" if c.matched is None else c.matched,
                                   c.size or "", note])
            if ours.matched is not None and ours.matched <= w.limit:
                print(f"  WARNING: {w.name} matches only {ours.matched} features: the page is "
                      "not full; use more --projects", flush=True)
        common.print_table(["workload", "server", "numberReturned", "numberMatched", "bytes",
                            "check"], check_rows)

        # 2. Load.
        print(f"\nload: {args.concurrency} clients, {args.warmup:g} s warm-up + {args.seconds:g} s "
              "per cell", flush=True)
        results: dict[tuple[str, str], common.LoadResult | str] = {}
        for w in WORKLOADS:
            for peer in peers:
                c = checks[(w.name, peer.name)]
                if c.error:
                    results[(w.name, peer.name)] = f"n/a: {c.error[:80]}"
                    continue
                r = common.http_load(peer.server.base_url, peer.path(w),
                                     concurrency=args.concurrency, seconds=args.seconds,
                                     warmup=args.warmup, check=_size_check(c.size),
                                     reconnect_every=RECONNECT_EVERY)
                results[(w.name, peer.name)] = r
                _progress(w, peer.name, r)
            r = common.call_load(floor_call(url, w), concurrency=args.concurrency,
                                 seconds=args.seconds, warmup=args.warmup,
                                 cleanup=lambda call: call.conn.close())
            results[(w.name, "floor")] = r
            _progress(w, "floor", r)

        _report(args, results, checks, peers, versions, workers, threads)
    return 0


def _progress(w: Workload, name: str, r: common.LoadResult) -> None:
    err = f", {r.errors} errors (first: {r.first_error})" if r.errors else ""
    print(f"  {w.name:34} {name:8} {r.rps:8.1f} req/s  p50 {r.p(50):7.1f} ms  "
          f"p95 {r.p(95):7.1f} ms  ({r.count} requests{err})", flush=True)


def _report(args, results, checks, peers, versions, workers, threads) -> None:
    import pygeoapi
    import tipg

    names = [p.name for p in peers] + ["floor"]
    rows = []
    targets = []
    for w in WORKLOADS:
        ours = results[(w.name, "ours")]
        workaround = {p.name: p.workaround for p in peers if p.bbox_params and w.bbox}
        for name in names:
            r = results[(w.name, name)]
            c = checks[(w.name, name)]
            returned = "n/a" if c.returned is None else c.returned
            if isinstance(r, str):
                rows.append([w.name, name, returned, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", r])
                continue
            ours_rps = ours.rps if isinstance(ours, common.LoadResult) else math.nan
            ours_p50 = ours.p(50) if isinstance(ours, common.LoadResult) else math.nan
            note = workaround.get(name, "")
            if c.returned != checks[(w.name, "ours")].returned:
                note = ("COUNT DIFFERS; " + note).rstrip("; ")
            rows.append([w.name, name, returned, r.rps, r.p(50), r.p(95), r.errors,
                         _ratio(ours_rps, r.rps), _ratio(ours_p50, r.p(50)), note])
        if not isinstance(ours, common.LoadResult):
            continue
        for name, target, kind in (("TiPG", TARGET_TIPG, "rps"),
                                   ("pygeoapi", TARGET_PYGEOAPI, "rps"),
                                   ("floor", TARGET_FLOOR, "p50")):
            r = results.get((w.name, name))
            if not isinstance(r, common.LoadResult):
                targets.append(f"{w.name}: ours/{name}: n/a ({r})")
                continue
            if kind == "rps":
                value = _ratio(ours.rps, r.rps)
                ok = value >= target
                targets.append(f"{w.name}: ours/{name} req/s = {value:.2f} (target >= {target:g})"
                               f"  {'PASS' if ok else 'FAIL'}")
            else:
                value = _ratio(ours.p(50), r.p(50))
                ok = value <= target
                targets.append(f"{w.name}: ours p50 / floor p50 = {value:.2f} "
                               f"(target <= {target:g})  {'PASS' if ok else 'FAIL'}")

    print("\n== OGC API Features items: results ==")
    print(f"machine: {platform.machine()}, {common.cores()} cores ({os.cpu_count()} online), "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    print(f"N = {args.projects} projects; concurrency {args.concurrency}; "
          f"{args.seconds:g} s measured after {args.warmup:g} s warm-up per cell")
    print(f"versions: tipg {tipg.__version__}, pygeoapi {pygeoapi.__version__}, "
          f"PostgreSQL {versions['postgresql']}, PostGIS {versions['postgis']}")
    print(f"workers: {workers} processes per server (ours and pygeoapi: x {threads} threads, "
          "gunicorn gthread; TiPG: uvicorn, one asyncio loop each); floor: "
          f"{args.concurrency} psycopg connections (autocommit), one per client thread, running "
          "the page and count statements our endpoint runs (spatial.features, prepare=True)")
    print("client: asyncio HTTP/1.1 keep-alive loop in this process (a new connection every "
          f"{RECONNECT_EVERY} requests), on the same cores as the servers and PostgreSQL: it "
          "competes with them for CPU")
    print("ratios: ours÷this, so > 1 means ours is faster in req/s, and < 1 in the p50 column "
          "means ours has the lower latency\n")
    common.print_table(["workload", "server", "returned", "req/s", "p50 ms", "p95 ms", "errors",
                        "ours/this req/s", "ours/this p50", "note"], rows)
    common.print_targets(targets)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
