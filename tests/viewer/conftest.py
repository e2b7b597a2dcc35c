"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the app on a real
socket, with the sample city and a small BIM model (footprints, GLB mesh, 4D schedule) in a
database of its own.

Nothing here downloads a browser: ``scripts/system-deps.sh test`` installs Debian's chromium and
the page's JavaScript is built from npm by ``scripts/build-viewer.sh`` (``make test`` runs it).
Screenshots go to ``test-artifacts/viewer/`` (git-ignored).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyproj
import pytest
import shapely
import shapely.affinity
from psycopg.types.json import Jsonb
from werkzeug.serving import make_server

from api import create_app
from api.settings import AppSettings, Settings
from bim.geometry import GlbMesh, write_glb
from bim.georef.placement import Placement, local_frame
from bim.ingest.store_file import store_bytes
from spatial import db, sample_city
from spatial.settings import DatabaseSettings
from tests.conftest import fresh_database
from tests.mqtt_support import WorkerProcess, mosquitto

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "viewer"
CHROMIUM = os.environ.get("SITEWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
]
SEED = 7

# A small model on one project: two stacked slabs, each built by one task.  Its GLB (written
# from the footprints) is turned and shifted in its own frame, as a parsed model's can be.
MESH_ROTATION = 30.0                 # degrees, anticlockwise from east to the model's +X
MESH_OFFSET = (6.0, -4.0, 0.0)       # metres: the GLB's origin in the model's frame
BIM_SQL = """
WITH p AS (SELECT id, ST_PointOnSurface(footprint) AS c FROM sitewatch.project WHERE code = %(code)s),
m AS (
    INSERT INTO sitewatch.bim_model (project_id, version, sha256, file_size, status, ifc_schema,
                                     origin)
    SELECT id, 1, repeat('ab', 32), 0, 'done', 'IFC4', ST_SetSRID(ST_MakePoint(ST_X(c), ST_Y(c), 0), 4490)
    FROM p RETURNING id, project_id),
el AS (
    INSERT INTO sitewatch.bim_element (model_id, global_id, ifc_class, storey, name,
                                       bottom_elevation, top_elevation, footprint)
    SELECT m.id, g.gid, 'IfcSlab', g.storey, g.name, g.b, g.t,
           ST_Multi(ST_SetSRID(ST_Buffer(p.c::geography, 14, 'quad_segs=1')::geometry, 4490))
    FROM m, p, (VALUES ('0SiteWatchTestSlab0001', 'L1', 'slab L1', 0.0, 3.5),
                       ('0SiteWatchTestSlab0002', 'L2', 'slab L2', 3.5, 7.0)) g(gid, storey, name, b, t)
    RETURNING id, global_id),
s AS (INSERT INTO sitewatch.schedule (model_id, source, name, purpose)
      SELECT id, 'ifc', 'test schedule', 'planned' FROM m RETURNING id),
t AS (
    INSERT INTO sitewatch.task (schedule_id, identification, name, planned_start, planned_finish)
    SELECT s.id, v.ident, v.name, v.s::timestamptz, v.f::timestamptz FROM s,
        (VALUES ('T1', 'slab L1', '2024-03-01 08:00+08', '2024-06-30 17:00+08'),
                ('T2', 'slab L2', '2024-07-01 08:00+08', '2024-12-31 17:00+08')) v(ident, name, s, f)
    RETURNING id, identification)
INSERT INTO sitewatch.task_element (task_id, element_id, relation)
SELECT t.id, el.id, 'output' FROM t JOIN el ON right(el.global_id, 1) = right(t.identification, 1)
"""


# Site reports: slab L1 done in time; slab L2 (on top, due 2024-12-31) done only in January.
# Recording them again is a no-op (idempotent by client_id), so any test may record them.
BIM_REPORTS = [
    {"client_id": "viewer-l1", "status": "done", "reported_at": "2024-06-20",
     "elements": ["0SiteWatchTestSlab0001"]},
    {"client_id": "viewer-l2", "status": "done", "reported_at": "2025-01-10",
     "elements": ["0SiteWatchTestSlab0002"]},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def viewer_db(database_url: str) -> str:
    url = fresh_database(database_url, "sitewatch_viewer")
    with db.connect(url) as conn:
        sample_city.load(conn, projects=300, seed=SEED)
        conn.commit()
    return url


@pytest.fixture(scope="session")
def viewer_conn(viewer_db: str):
    with db.connect(viewer_db, autocommit=True) as conn:
        yield conn


def _prism(footprint: shapely.Polygon, bottom: float, top: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """A convex footprint (local metres) stood from ``bottom`` to ``top``: vertices and faces."""
    ring = np.asarray(footprint.exterior.coords)[:-1, :2]
    n = len(ring)
    vertices = np.vstack([np.column_stack([ring, np.full(n, bottom)]),
                          np.column_stack([ring, np.full(n, top)])])
    fan = [(0, k + 1, k) for k in range(1, n - 1)]                     # bottom, facing down
    fan += [(n, n + k, n + k + 1) for k in range(1, n - 1)]            # top, facing up
    sides = [f for k in range(n) for f in ((k, (k + 1) % n, n + (k + 1) % n),
                                           (k, n + (k + 1) % n, n + k))]
    return vertices, np.array(fan + sides)


def _store_mesh(conn, data_dir: Path, code: str) -> dict:
    """Write the test model's GLB the way a parse would, from its element footprints, and record
    it with the model: turned by ``MESH_ROTATION`` and shifted by ``MESH_OFFSET``, so that the
    mesh lands on its footprints only if the page applies both as the placement does."""
    model_id, lon, lat = conn.execute(
        "SELECT m.id, ST_X(m.origin), ST_Y(m.origin) FROM sitewatch.bim_model m "
        "JOIN sitewatch.project p ON p.id = m.project_id WHERE p.code = %s", (code,)).fetchone()
    to_local = pyproj.Transformer.from_crs("EPSG:4490", local_frame(lon, lat), always_xy=True)
    # Map east/north → the model's frame: the inverse of the placement's anticlockwise turn.
    turn = np.radians(-MESH_ROTATION)
    meshes = []
    rows = conn.execute(
        "SELECT global_id, ifc_class, bottom_elevation, top_elevation, ST_AsBinary(footprint) "
        "FROM sitewatch.bim_element WHERE model_id = %s ORDER BY id", (model_id,)).fetchall()
    for gid, ifc_class, bottom, top, wkb in rows:
        plan = shapely.transform(shapely.from_wkb(wkb).geoms[0], lambda xy: np.column_stack(
            to_local.transform(xy[:, 0], xy[:, 1])))
        plan = shapely.affinity.rotate(plan, turn, origin=(0, 0), use_radians=True)
        meshes.append(GlbMesh(gid, ifc_class, *_prism(plan, bottom, top)))
    buffer = io.BytesIO()
    write_glb(meshes, buffer, offset=MESH_OFFSET)
    stored = store_bytes(buffer.getvalue(), data_dir=data_dir, suffix=".glb")
    # What write_model records: the placement (here a manual one at the origin) and the offset.
    placement = Placement("manual", local_frame(lon, lat), 0.0, 0.0, 0.0, MESH_ROTATION, 1.0)
    georef = {**placement.as_json(), "glb_offset": list(MESH_OFFSET)}
    conn.execute("UPDATE sitewatch.bim_model SET mesh_sha256 = %s, georef = %s WHERE id = %s",
                 (stored.sha256, Jsonb(georef), model_id))
    conn.execute("UPDATE sitewatch.bim_element SET mesh_index = i - 1 FROM (SELECT id, "
                 "row_number() OVER (ORDER BY id) AS i FROM sitewatch.bim_element "
                 "WHERE model_id = %s) o WHERE o.id = bim_element.id", (model_id,))
    return {"model_id": model_id, "mesh_sha256": stored.sha256}


@pytest.fixture(scope="session")
def viewer_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's data folder (its file store holds the test model's GLB)."""
    return tmp_path_factory.mktemp("viewer-data")


@pytest.fixture(scope="session")
def bim_project(viewer_conn, viewer_data: Path) -> dict:
    """The project that carries the test model (an under-construction project), with its mesh."""
    code, lon, lat = viewer_conn.execute(
        "SELECT code, ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint)) "
        "FROM sitewatch.project WHERE stage = 'under_construction' ORDER BY floor_area DESC "
        "LIMIT 1").fetchone()
    viewer_conn.execute(BIM_SQL, {"code": code})
    return {"code": code, "lon": lon, "lat": lat, **_store_mesh(viewer_conn, viewer_data, code)}


@pytest.fixture(scope="session")
def known_project(viewer_conn, bim_project) -> dict:
    """A large under-construction project without BIM, far from the BIM one, and its fill."""
    row = viewer_conn.execute(
        "SELECT code, name, stage, ST_X(ST_PointOnSurface(footprint)), "
        " ST_Y(ST_PointOnSurface(footprint)) FROM sitewatch.project "
        "WHERE stage = 'under_construction' AND code <> %s "
        "ORDER BY ST_Area(footprint::geography) DESC LIMIT 1", (bim_project["code"],)).fetchone()
    return dict(zip(("code", "name", "stage", "lon", "lat"), row))


@pytest.fixture(scope="session")
def viewer_app(viewer_db: str, bim_project, viewer_data: Path):
    port = _free_port()
    settings = Settings(app=AppSettings(data=viewer_data, port=port, host="127.0.0.1"),
                        database=DatabaseSettings(database_url=viewer_db, data=viewer_data))
    app = create_app(settings)
    app.config["TESTING"] = True
    app.config["SITEWATCH_TEST_PORT"] = port
    return app


@pytest.fixture(scope="session")
def viewer_server(viewer_app):
    port = viewer_app.config["SITEWATCH_TEST_PORT"]
    server = make_server("127.0.0.1", port, viewer_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory):
    """A Mosquitto of the test's own (skips with the install hint when it is absent)."""
    with mosquitto(tmp_path_factory.mktemp("mosquitto")) as mq:
        yield mq


@pytest.fixture
def ingest_worker(mqtt_broker, viewer_db: str, tmp_path: Path):
    """``sitewatch ingest mqtt`` on the test broker, committing to the viewer database."""
    worker = WorkerProcess(viewer_db, mqtt_broker.url, tmp_path, "sitewatch-ingest-viewer-test")
    try:
        yield worker.start()
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def vendor_built() -> None:
    if not (ROOT / "viewer" / "static" / "vendor" / "deck-bundle.js").is_file():
        if not shutil.which("npm"):
            pytest.skip("viewer/static/vendor is not built and npm is absent (scripts/build-viewer.sh)")
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)


@pytest.fixture(scope="session")
def browser(vendor_built):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: run scripts/system-deps.sh test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Recorder:
    """Every request the page makes, and the console errors it logs."""

    def __init__(self, page):
        self.urls: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def foreign(self) -> list[str]:
        out = []
        for url in self.urls:
            u = urlparse(url)
            if u.scheme in ("data", "blob") or (u.scheme == "http" and u.hostname == "127.0.0.1"):
                continue
            out.append(url)
        return out


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    pg = context.new_page()
    pg.recorder = Recorder(pg)
    yield pg
    context.close()


def open_map(page, url: str, *, timeout: float = 60000) -> None:
    """Navigate and wait for the first frame with every layer in view loaded."""
    page.goto(url)
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=timeout)


def fly(page, lon: float, lat: float, zoom: float, pitch: float = 0) -> None:
    """Jump to a view, then wait until every layer in view has its data and one more frame."""
    page.evaluate("([lon, lat, zoom, pitch]) => SW.flyTo({longitude: lon, latitude: lat, zoom, "
                  "pitch, bearing: 0, transitionDuration: 0})", [lon, lat, zoom, pitch])
    page.wait_for_function("SW.allLoaded()", timeout=30000)
    page.wait_for_timeout(600)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
