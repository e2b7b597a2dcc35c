"""REST API for the project ledger at /api/v1/projects; writes need a bearer token."""

from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, Response, g, jsonify, request, send_file

from api.auth import require
from api.common import json_body as _body
from api.common import pool as _pool
from api.errors import Forbidden, InvalidParameterValue
from spatial import ledger, projects
from spatial.collections import PROGRESS_PROPERTIES, PROJECTS

bp = Blueprint("projects", __name__)


@bp.get("/projects")
def list_projects() -> Response:
    """Ledger rows without geometry, paged; the map-ready feed is /ogc/collections/projects."""
    try:
        limit = min(int(request.args.get("limit", 100)), 10000)
        offset = int(request.args.get("offset", 0))
    except ValueError as exc:
        raise InvalidParameterValue("limit and offset must be integers") from exc
    if limit < 1 or offset < 0:
        raise InvalidParameterValue("limit must be ≥ 1 and offset ≥ 0")
    filters = {k: v for k, v in request.args.items() if k in ("stage", "type", "district_code")}
    unknown = set(request.args) - {"limit", "offset", *filters}
    if unknown:
        raise InvalidParameterValue(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    with _pool().connection() as conn:
        rows, total = projects.listing(conn, filters, limit=limit, offset=offset)
    return jsonify({"projects": rows, "numberMatched": total, "numberReturned": len(rows),
                    "limit": limit, "offset": offset})


@bp.get("/projects/export")
def export() -> Response:
    """One-click export of the whole ledger: ?format=gpkg|geojson|xlsx|csv."""
    fmt = request.args.get("format", "xlsx")
    if fmt not in ledger.FORMATS:
        raise InvalidParameterValue(f"format must be one of {', '.join(ledger.FORMATS)}")
    buffer = io.BytesIO()
    with _pool().connection() as conn:
        ledger.export_ledger(conn, fmt, buffer)
    buffer.seek(0)
    name = f"sitewatch-projects-{date.today():%Y%m%d}.{fmt}"
    mimetype = ledger.FORMATS[fmt].split(";")[0]  # send_file adds the charset of text types
    return send_file(buffer, mimetype=mimetype, as_attachment=True, download_name=name)


@bp.get("/projects/<code>")
def get_project(code: str) -> Response:
    with _pool().connection() as conn:
        return jsonify(projects.get(conn, code))


@bp.post("/projects")
@require("admin", "supervisor")
def create_project() -> tuple[Response, int, dict]:
    fields = projects.validate(_body(), create=True)
    token = g.token
    if token.role == "supervisor" and token.scope and fields["district_code"] != token.scope:
        raise Forbidden(f"this supervisor token covers district {token.scope} only")
    with _pool().connection() as conn:
        created = projects.create(conn, fields)
    location = f"{request.host_url.rstrip('/')}/api/v1/projects/{created['code']}"
    return jsonify(created), 201, {"Location": location}


def _check_write(conn, code: str, fields: dict) -> None:
    token = g.token
    district, parties = projects.parties(conn, code)
    if token.role == "supervisor" and token.scope and district != token.scope:
        raise Forbidden(f"this supervisor token covers district {token.scope} only")
    if token.role == "enterprise":
        if not token.scope or token.scope not in parties:
            raise Forbidden("this enterprise is not a party to the project")
        extra = set(fields) - projects.ENTERPRISE_FIELDS
        if extra:
            raise Forbidden(f"an enterprise may not change: {', '.join(sorted(extra))}")


@bp.patch("/projects/<code>")
@require("admin", "supervisor", "enterprise")
def update_project(code: str) -> Response:
    fields = projects.validate(_body(), create=False)
    with _pool().connection() as conn:
        _check_write(conn, code, fields)
        return jsonify(projects.update(conn, code, fields))


@bp.delete("/projects/<code>")
@require("admin")
def delete_project(code: str) -> Response:
    with _pool().connection() as conn:
        projects.delete(conn, code)
    return Response(status=204)


@bp.get("/projects/fields")
def fields() -> Response:
    """Field names with their Chinese and English labels (for forms and spreadsheets)."""
    return jsonify([{"name": p.name, "title": p.title, "title_zh": p.title_zh, "type": p.type}
                    for p in PROJECTS.properties if p not in PROGRESS_PROPERTIES])
