"""Map page: time from navigation to the first frame with every layer drawn, and bytes on the wire.

Not a test.  One run: a private PostgreSQL cluster in a temporary SITEWATCH_DATA (or a scratch
database on SITEWATCH_DATABASE_URL), the sample city with ``--projects`` projects (default 10,000)
and, when the sensor package ships its sample (``sensors.sample``), about ``--sensors`` sensors;
``sitewatch serve`` (gunicorn, as deployed) on a free 127.0.0.1 port; headless Chromium (Debian's
/usr/bin/chromium, software GL through SwiftShader) driven by Playwright.

Each navigation gets a fresh browser context (cold cache) at 1280×800 on the city view.  "First
full frame" is the page's own mark (``SW.timing.firstFullFrame``, ms since navigation start): the
first frame drawn after every visible layer reports ``isLoaded`` (district GeoJSON, every project
tile in view, the first sensor poll).  Bytes are what crossed the socket (CDP
``encodedDataLength``, gzip included) and the decoded size, summed over every response.

    .venv/bin/python bench/viewer.py [--projects 10000] [--sensors 100] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

from spatial import cluster, db, sample_city  # noqa: E402
from spatial.settings import DatabaseSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def database(data: Path, stack: ExitStack) -> str:
    external = os.environ.get("SITEWATCH_DATABASE_URL")
    if external:   # never load the sample (it truncates the ledger) into a real database
        name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(external, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

        def drop() -> None:
            with psycopg.connect(external, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                              .format(sql.Identifier(name)))
        stack.callback(drop)
        info = psycopg.conninfo.conninfo_to_dict(external)
        info["dbname"] = name
        return psycopg.conninfo.make_conninfo(**info)
    settings = DatabaseSettings(data=data, database_url=None)
    stack.callback(cluster.stop, settings)
    return db.resolve_url(settings)


def load(url: str, projects: int, sensors: int) -> tuple[int, str]:
    """The sample city and about ``sensors`` sample sensors; (sensor count, note)."""
    with db.connect(url) as conn:
        db.migrate(conn)
        sample_city.load(conn, projects=projects, seed=1)
        conn.commit()
        try:
            from sensors import sample as sensor_sample
        except ImportError:
            return 0, "no sensor sample in this tree (sensors.sample): the sensor layer is off"
        count, sites = 0, 8
        while count < sensors and sites < 400:
            sensor_sample.load_sensors(conn, seed=1, max_projects=sites)
            count = conn.execute("SELECT count(*) FROM sitewatch.sensor").fetchone()[0]
            sites += 4
        conn.commit()
    with db.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return count, "sensors.sample (latest state as stored; the page polls them every 5 s)"


def build_vendor() -> None:
    if not (ROOT / "viewer" / "static" / "vendor" / "deck-bundle.js").is_file():
        os.system(f"bash {ROOT / 'scripts' / 'build-viewer.sh'}")  # noqa: S605


def measure(browser, url: str, *, warm_context=None) -> dict:
    context = warm_context or browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    wire: dict[str, float] = {}
    decoded: dict[str, int] = {}
    urls: list[str] = []
    cdp.on("Network.loadingFinished",
           lambda e: wire.__setitem__(e["requestId"], e.get("encodedDataLength", 0)))
    cdp.on("Network.dataReceived", lambda e: decoded.__setitem__(
        e["requestId"], decoded.get(e["requestId"], 0) + e.get("dataLength", 0)))
    page.on("request", lambda r: urls.append(r.url))
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=180_000, polling=50)
    wall = (time.perf_counter() - t0) * 1000
    marks = page.evaluate("""() => ({full: SW.timing.firstFullFrame,
        dom: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
        layers: SW.deck.layerManager.getLayers().filter(l => !l.parent).map(l => l.id),
        sensors: SW.state.sensors.length, tiles: SW.tilesOk})""")
    page.wait_for_timeout(300)
    foreign = [u for u in urls if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
    out = {"full_ms": marks["full"], "dom_ms": marks["dom"], "wall_ms": wall,
           "wire": sum(wire.values()), "decoded": sum(decoded.values()), "requests": len(urls),
           "layers": marks["layers"], "sensors": marks["sensors"], "tiles": marks["tiles"],
           "foreign": foreign, "context": context}
    page.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="cold navigations (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    args = parser.parse_args(argv)
    common.raise_on_sigterm()
    from playwright.sync_api import sync_playwright

    build_vendor()
    data = Path(tempfile.mkdtemp(prefix="sitewatch-bench-viewer-"))
    data.chmod(0o755)   # as root the cluster runs as 'sitewatch', which must reach its folder
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, data, ignore_errors=True)
        url = database(data, stack)
        t0 = time.monotonic()
        n_sensors, sensor_note = load(url, args.projects, args.sensors)
        print(f"sample city: {args.projects} projects, {n_sensors} sensors "
              f"(loaded in {time.monotonic() - t0:.1f} s); sensors: {sensor_note}", flush=True)
        port = common.free_port()
        env = {**os.environ, "SITEWATCH_DATABASE_URL": url, "SITEWATCH_DATA": str(data)}
        server = common.ServerProcess(
            "sitewatch", [str(Path(sys.executable).parent / "sitewatch"), "serve", "--port", str(port)],
            port=port, env=env, log=data / "serve.log", ready_path="/healthz").start()
        stack.callback(server.stop)
        print(f"server: {server.base_url} (gunicorn)", flush=True)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            measure(browser, server.base_url + "/")["context"].close()    # server warm-up
            cold = []
            for _ in range(args.runs):
                m = measure(browser, server.base_url + "/")
                m["context"].close()
                cold.append(m)
            warm_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            measure(browser, server.base_url + "/", warm_context=warm_ctx)
            warm = measure(browser, server.base_url + "/", warm_context=warm_ctx)
            warm_ctx.close()
            browser.close()

        cold.sort(key=lambda m: m["full_ms"])
        med = cold[len(cold) // 2]
        rows = [[f"cold (median of {len(cold)})", med["full_ms"], med["dom_ms"], med["requests"],
                 med["wire"] / 1024, med["decoded"] / 1024],
                ["cold (best)", cold[0]["full_ms"], cold[0]["dom_ms"], cold[0]["requests"],
                 cold[0]["wire"] / 1024, cold[0]["decoded"] / 1024],
                ["warm cache", warm["full_ms"], warm["dom_ms"], warm["requests"],
                 warm["wire"] / 1024, warm["decoded"] / 1024]]
        print(f"\nmap page, {args.projects} projects, {med['sensors']} live sensors, 1280×800, "
              f"headless Chromium + SwiftShader, {common.cores()} cores:")
        common.print_table(["navigation", "first full frame ms", "DOMContentLoaded ms", "requests",
                            "KiB on the wire", "KiB decoded"], rows)
        print(f"layers drawn: {', '.join(med['layers'])}")
        print(f"projects from {'vector tiles (MVT)' if med['tiles'] else 'GeoJSON (no tiles served)'}")
        foreign = {u for m in cold + [warm] for u in m["foreign"]}
        print("requests outside 127.0.0.1: " + (", ".join(sorted(foreign)) if foreign else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
