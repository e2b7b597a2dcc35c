"""The Flask application: OGC API at /ogc, REST at /api/v1, /healthz and the viewer at /.

``create_app`` is the only place an app is built (gunicorn workers, tests, the CLI).  Each
subsystem registers itself; library packages below never import Flask.
"""

from __future__ import annotations

import atexit
import logging

from flask import Flask
from flask_cors import CORS

from api import errors, health, models, ogc, progress, projects, tiles, viewer
from api import sensors as sensor_api
from api.settings import Settings
from spatial import db, features
from spatial.collections import COLLECTIONS

logger = logging.getLogger(__name__)


def _extents(pool) -> dict[str, dict]:
    with pool.connection() as conn:
        return {cid: features.extent(conn, coll) for cid, coll in COLLECTIONS.items()}


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["SITEWATCH_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.app.max_upload_mb * 1024 * 1024
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    url = db.resolve_url(settings.database, start=False)
    _, threads = settings.app.worker_layout()
    pool = db.create_pool(url, min_size=1, max_size=max(settings.database.pool_max_size, threads + 2))
    atexit.register(pool.close)
    app.extensions["sitewatch_pool"] = pool

    # Smart-city dashboards read the feeds from their own origins; writes still need a token.
    CORS(app, resources={r"/ogc/*": {}, r"/api/v1/*": {}, r"/healthz": {}},
         expose_headers=["Content-Crs", "Location", "ETag"])
    errors.register_error_handlers(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(projects.bp, url_prefix="/api/v1")
    models.init_app(app)
    progress.init_app(app)
    sensor_api.init_app(app)
    ogc.mount(app, settings.app, _extents(pool))
    tiles.init_app(app)
    app.register_blueprint(viewer.bp)
    return app
