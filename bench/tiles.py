"""Vector tiles (MVT): SiteWatch against the SQL floor and TiPG, per zoom, in one run.

Run::

    .venv/bin/python bench/tiles.py [--projects 100000] [--seconds 10] [--concurrency 8]

One database (a private cluster in a temporary SITEWATCH_DATA, or a scratch database on the
server of SITEWATCH_DATABASE_URL) holds the sample city.  Per zoom (10, 13, 16) a block of
tiles over central Hangzhou, those that hold projects (3×3 at z10 and z13, 4×4 at z16) is
requested round-robin, C clients in a closed loop for S seconds after a warm-up, from

* ours        ``sitewatch serve`` (gunicorn gthread), ``/ogc/collections/projects/tiles/…``;
* floor       our tile statement straight through psycopg (prepared, binary, autocommit, one
              connection per client thread): what ours would cost if HTTP, Flask and the pool
              were free;
* TiPG        ``uvicorn tipg.main:app`` on ``sitewatch.project``, as it comes (every column,
              buffer 256, at most 10,000 features, ordered by ``code``);
* TiPG props  TiPG asked (``properties=``) for the columns our city-zoom tiles carry.

Targets per zoom: ours p50 ≤ 1.2 × floor p50 + 2 ms, and ours req/s ≥ 1.0 × TiPG's.  Requests
carry no If-None-Match: every answer is a full render.  This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# Run as a script, this file's folder is sys.path[0], and "import tiles" would find this very
# file instead of the tiles package: take the folder off and load the helpers by path.
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


common = _load("_common")
helpers = _load("_tiles_helpers")

import morecantile  # noqa: E402
import psycopg  # noqa: E402

from api.settings import AppSettings  # noqa: E402
from spatial.collections import PROJECTS  # noqa: E402
from tiles.vector import OVERVIEW_PROPERTIES  # noqa: E402

TARGET_FLOOR_FACTOR = 1.2
TARGET_FLOOR_MS = 2.0
TARGET_TIPG = 1.0
CENTRE = (120.165, 30.275)               # central Hangzhou, east of West Lake
# Tiles per side of the block requested at each zoom.  An odd count at z10 and z13: there the
# tiles' costs differ tenfold (1.7 to 59 ms at z10), and with an even count the median sits on
# the gap between two tiles, where it jumped between 64 and 113 ms for the same floor.
BLOCKS = {10: 3, 13: 3, 16: 4}
RECONNECT_EVERY = 20


def tile_block(conn: psycopg.Connection, z: int, side: int) -> list[tuple[int, int, int]]:
    """(z, y, x) of the side × side tiles around CENTRE that hold at least one project."""
    centre = morecantile.tms.get("WebMercatorQuad").tile(*CENTRE, z)
    lo = -(side // 2)
    out = []
    for dy in range(lo, lo + side):
        for dx in range(lo, lo + side):
            y, x = centre.y + dy, centre.x + dx
            (n,) = conn.execute(
                "SELECT count(*) FROM sitewatch.project WHERE ST_Intersects(footprint, "
                "ST_Transform(ST_TileEnvelope(%s, %s, %s), 4490))", (z, x, y)).fetchone()
            if n:
                out.append((z, y, x))
    return out


def _decode_count(data: bytes) -> int | None:
    try:
        import mapbox_vector_tile
    except ImportError:  # the test extra is not installed: sizes only
        return None
    return sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(data).values())


def check(servers, url: str, tiles) -> dict[str, dict]:
    """One request per tile and server: status, bytes and features (decoded)."""
    out: dict[str, dict] = {}
    for server in servers:
        sizes, counts, errors = [], [], []
        for z, y, x in tiles:
            status, body = common.fetch(server.process.base_url + server.tile_path(z, y, x))
            if status != 200:
                errors.append(f"{z}/{y}/{x}: HTTP {status} {body[:80]!r}")
                continue
            sizes.append(len(body))
            counts.append(_decode_count(body))
        out[server.name] = {"bytes": sizes, "features": counts, "errors": errors}
    floor = helpers.floor_call(url, tiles)()
    sizes, counts = [], []
    for _ in tiles:
        _, data = floor()
        sizes.append(len(data))
        counts.append(_decode_count(bytes(data)))
    floor.conn.close()
    out["floor"] = {"bytes": sizes, "features": counts, "errors": []}
    return out


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else math.nan


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def _not_empty(status: int, body: bytes) -> str | None:
    return None if body else "empty body"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per cell")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="clients of the saturation phase (req/s, p50, p95)")
    parser.add_argument("--latency-concurrency", type=int, default=common.cores(),
                        help="clients of the latency phase (0: skip it); default: one per core")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    args = parser.parse_args(argv)
    common.raise_on_sigterm()

    data = Path(tempfile.mkdtemp(prefix="sitewatch-bench-tiles-"))
    data.chmod(0o755)  # as root the cluster runs as the sitewatch user, which must get in
    workers, threads = AppSettings().worker_layout()
    props = ",".join(p for p in OVERVIEW_PROPERTIES["projects"] if PROJECTS.property(p))
    try:
        with ExitStack() as stack:
            database = helpers.Database(data)
            stack.callback(database.stop)
            url = database.start()
            print(f"loading the sample city ({args.projects} projects) ...", flush=True)
            versions = helpers.load_city(url, args.projects)
            ours = helpers.start_ours(url, data, workers, threads)
            stack.callback(ours.process.stop)
            tipg = helpers.start_tipg(database.info(), data, workers)
            stack.callback(tipg.stop)
            servers = [ours, *helpers.tipg_servers(tipg, workers, props)]
            for s in servers:
                print(f"started {s.name:10} {s.process.base_url}  ({s.layout})", flush=True)
            with psycopg.connect(url) as conn:
                blocks = {z: tile_block(conn, z, side) for z, side in BLOCKS.items()}

            print("\nchecks (one request per tile, before timing):", flush=True)
            checks = {z: check(servers, url, tiles) for z, tiles in blocks.items()}
            rows = []
            for z, by_server in checks.items():
                for name, c in by_server.items():
                    rows.append([f"z{z}", name, len(blocks[z]), _mean(c["features"]),
                                 _mean(c["bytes"]) / 1024, "; ".join(c["errors"][:2]) or "ok"])
            common.print_table(["zoom", "server", "tiles", "features/tile", "KiB/tile", "check"],
                               rows)

            results: dict[tuple[int, int, str], common.LoadResult] = {}
            phases = [(args.concurrency, [s.name for s in servers] + ["floor", "TiPG SQL"])]
            if args.latency_concurrency and args.latency_concurrency != args.concurrency:
                phases.append((args.latency_concurrency, ["ours", "TiPG", "floor"]))
            for clients, names in phases:
                print(f"\nload: {clients} clients, {args.warmup:g} s warm-up + {args.seconds:g} s "
                      "per cell", flush=True)
                for z, tiles in blocks.items():
                    for name in names:
                        r = _run(name, servers, url, tiles, clients, args)
                        results[(clients, z, name)] = r
                        _progress(clients, z, name, r)
            _report(args, results, checks, blocks, versions, workers, threads, phases)
    finally:
        if args.keep:
            print(f"kept {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)
    return 0


def _run(name: str, servers, url: str, tiles, clients: int, args) -> common.LoadResult:
    if name in ("floor", "TiPG SQL"):
        make = helpers.floor_call(url, tiles) if name == "floor" else helpers.tipg_sql_call(url, tiles)
        return common.call_load(make, concurrency=clients, seconds=args.seconds,
                                warmup=args.warmup, cleanup=lambda call: call.conn.close())
    server = next(s for s in servers if s.name == name)
    return common.http_load(server.process.base_url, [server.tile_path(*t) for t in tiles],
                            concurrency=clients, seconds=args.seconds, warmup=args.warmup,
                            check=_not_empty, reconnect_every=RECONNECT_EVERY)


def _progress(clients: int, z: int, name: str, r: common.LoadResult) -> None:
    err = f", {r.errors} errors (first: {r.first_error})" if r.errors else ""
    print(f"  c={clients:<2} z{z:<3} {name:10} {r.rps:8.1f} req/s  p50 {r.p(50):7.1f} ms  "
          f"p95 {r.p(95):7.1f} ms  ({r.count} requests{err})", flush=True)


def _report(args, results, checks, blocks, versions, workers, threads, phases) -> None:
    import tipg

    rows, targets = [], []
    for clients, names in phases:
        for z in blocks:
            ours = results[(clients, z, "ours")]
            for name in names:
                r = results[(clients, z, name)]
                c = checks[z].get(name) or checks[z]["TiPG" if name == "TiPG SQL" else "floor"]
                rows.append([clients, f"z{z}", name, _mean(c["features"]), _mean(c["bytes"]) / 1024,
                             r.rps, r.p(50), r.p(95), r.errors, _ratio(ours.rps, r.rps),
                             _ratio(ours.p(50), r.p(50))])
            floor = results[(clients, z, "floor")]
            limit = TARGET_FLOOR_FACTOR * floor.p(50) + TARGET_FLOOR_MS
            ok = ours.p(50) <= limit
            targets.append(f"c={clients} z{z}: ours p50 {ours.p(50):.1f} ms <= "
                           f"{TARGET_FLOOR_FACTOR:g} x floor p50 {floor.p(50):.2f} ms + "
                           f"{TARGET_FLOOR_MS:g} ms = {limit:.1f} ms  {'PASS' if ok else 'FAIL'}")
            if clients == args.concurrency:
                value = _ratio(ours.rps, results[(clients, z, "TiPG")].rps)
                targets.append(f"c={clients} z{z}: ours/TiPG req/s = {value:.2f} (target >= "
                               f"{TARGET_TIPG:g})  {'PASS' if value >= TARGET_TIPG else 'FAIL'}")

    print("\n== MVT tiles: results ==")
    print(f"machine: {platform.machine()}, {common.cores()} cores ({os.cpu_count()} online), "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    print(f"N = {args.projects} projects; {args.seconds:g} s measured after {args.warmup:g} s "
          "warm-up per cell; tiles per zoom (round-robin): "
          + ", ".join(f"z{z} {len(t)}" for z, t in blocks.items()))
    print(f"versions: tipg {tipg.__version__}, PostgreSQL {versions['postgresql']}, "
          f"PostGIS {versions['postgis']}")
    print(f"servers: ours {workers} x {threads} threads (gunicorn gthread); TiPG {workers} uvicorn "
          "workers.  floor: our tile statement, TiPG SQL: TiPG's tile statement, both through "
          "psycopg (prepared, binary, autocommit), one connection per client thread")
    print("ours below z14: code, name, stage, type, district_code, storeys, key_livelihood, specks "
          "as points; from z14 every scalar column.  TiPG: every column at every zoom "
          "(TiPG props: the z<14 set)")
    print("ratios: ours/this; > 1 in req/s means ours serves more, < 1 in p50 means ours answers "
          "sooner\n")
    common.print_table(["clients", "zoom", "server", "features/tile", "KiB/tile", "req/s",
                        "p50 ms", "p95 ms", "errors", "ours/this req/s", "ours/this p50"], rows)
    common.print_targets(targets)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
