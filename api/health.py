"""GET /healthz: does the database answer, with PostGIS and the schema in place?"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with current_app.extensions["sitewatch_pool"].connection(timeout=5) as conn:
            postgis, migration = conn.execute(
                "SELECT postgis_lib_version(), (SELECT max(version) FROM sitewatch.schema_migration)"
            ).fetchone()
    except Exception as exc:  # any failure means "not healthy"; say why
        response = jsonify({"status": "error", "database": "unreachable", "detail": str(exc)[:200]})
        response.status_code = 503
        return response
    return jsonify({"status": "ok", "database": "ok", "postgis": postgis, "migration": migration})
