"""REST API for BIM models: upload (202 + job), status and summary, versions, mesh, placement.

Uploads are streamed to the content-addressed store (never held in memory), checked, and queued;
the parse runs in the background worker this module starts (``bim.ingest.Worker``).
"""

from __future__ import annotations

import logging
import math
from pathlib import PureWindowsPath

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, send_file
from werkzeug.http import parse_options_header

from api.auth import require
from api.common import pool as _pool
from api.errors import (
    Forbidden,
    InvalidParameterValue,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
)
from bim import ingest
from bim.errors import FileTooLarge
from bim.georef import make_manual_placement
from bim.ingest.store_file import file_path
from bim.settings import IngestSettings
from spatial import db, projects

logger = logging.getLogger(__name__)

bp = Blueprint("models", __name__)
GLB = "model/gltf-binary"


def _ingest() -> IngestSettings:
    return current_app.extensions["sitewatch_ingest"]


def _data_dir():
    return current_app.config["SITEWATCH_SETTINGS"].database.data_dir


def _max_bytes() -> int:
    return current_app.config["SITEWATCH_SETTINGS"].app.max_upload_mb * 1024 * 1024


def _check_party(conn, code: str) -> None:
    token = g.token
    _, parties = projects.parties(conn, code)   # 404 for an unknown project
    if token.role == "enterprise" and (not token.scope or token.scope not in parties):
        raise Forbidden("this enterprise is not a party to the project")


def _raw_file_name() -> str | None:
    """The file name of a raw-body upload: ``Content-Disposition: attachment; filename*=UTF-8''…``
    (RFC 6266; HTTP headers are Latin-1, so a Chinese name can only come this way) or
    ``filename="…"``, else ``X-File-Name``.  Only the last path segment is kept."""
    disposition = request.headers.get("Content-Disposition")
    name = parse_options_header(disposition)[1].get("filename") if disposition else None
    name = name or request.headers.get("X-File-Name")
    if not name:
        return None
    return PureWindowsPath(name).name or None   # "C:\\x\\a.ifc" and "../a.ifc" alike


@bp.post("/projects/<code>/models")
@require("admin", "enterprise")
def upload(code: str) -> tuple[Response, int, dict]:
    """The IFC file as the raw body (its name in ``Content-Disposition`` or ``X-File-Name``), or
    as the multipart field ``file``; 202 with the job."""
    with _pool().connection() as conn:
        _check_party(conn, code)
    if request.mimetype == "multipart/form-data":
        upload_file = request.files.get("file")
        if upload_file is None:
            raise InvalidRequest("multipart upload without a 'file' field")
        source, name = upload_file.stream, upload_file.filename
    else:
        source, name = request.stream, _raw_file_name()
    with _pool().connection() as conn:
        conn.autocommit = True
        try:
            result = ingest.submit_model(conn, project_code=code, source=source,
                                         data_dir=_data_dir(), max_bytes=_max_bytes(),
                                         file_name=name, uploaded_by=g.token.id)
        except FileTooLarge as exc:
            raise PayloadTooLarge(f"the file is larger than the limit of {exc.limit} bytes") from exc
    _ensure_worker(current_app)
    location = f"{request.host_url.rstrip('/')}/api/v1/models/{result['model_id']}"
    body = {**result, "links": [{"rel": "status", "href": location}]}
    return jsonify(body), 202, {"Location": location}


@bp.get("/models/<int:model_id>")
def get_model(model_id: int) -> Response:
    with _pool().connection() as conn:
        return jsonify(ingest.get_model(conn, model_id))


@bp.get("/projects/<code>/models")
def list_models(code: str) -> Response:
    with _pool().connection() as conn:
        models = ingest.list_models(conn, code)
    return jsonify({"project_code": code, "models": models})


@bp.get("/models/<int:model_id>/mesh.glb")
def mesh(model_id: int) -> Response:
    with _pool().connection() as conn:
        row = conn.execute("SELECT status, mesh_sha256 FROM sitewatch.bim_model WHERE id = %s",
                           (model_id,)).fetchone()
    if row is None:
        raise NotFound(f"model {model_id} not found")
    status, sha = row
    if sha is None:
        raise NotFound(f"model {model_id} has no mesh (status {status})")
    path = file_path(_data_dir(), sha, ".glb")
    if not path.exists():
        raise NotFound(f"the mesh of model {model_id} is missing from the file store")
    response = send_file(path, mimetype=GLB, etag=sha, conditional=True, max_age=3600,
                         download_name=f"model-{model_id}.glb")
    return response


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterValue(f"{name} must be a finite number")
    return float(value)


@bp.route("/models/<int:model_id>/placement", methods=["PUT", "POST"])
@require("admin")
def placement(model_id: int) -> Response:
    """``{"anchor": {"lon", "lat"} | {"e", "n", "epsg"}, "rotation": degrees[, "height": m]}``:
    the model's local origin at the anchor, its +X axis ``rotation`` degrees anticlockwise
    from east; every element is re-placed from its stored local footprint."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("anchor"), dict):
        raise InvalidRequest('the body must be JSON: {"anchor": {...}, "rotation": degrees}')
    anchor = body["anchor"]
    if {"lon", "lat"} <= anchor.keys():
        clean = {"lon": _number(anchor["lon"], "anchor.lon"),
                 "lat": _number(anchor["lat"], "anchor.lat")}
    elif {"e", "n", "epsg"} <= anchor.keys():
        if not isinstance(anchor["epsg"], int) or isinstance(anchor["epsg"], bool):
            raise InvalidParameterValue("anchor.epsg must be an integer EPSG code")
        clean = {"e": _number(anchor["e"], "anchor.e"), "n": _number(anchor["n"], "anchor.n"),
                 "epsg": anchor["epsg"]}
    else:
        raise InvalidParameterValue('anchor must be {"lon", "lat"} or {"e", "n", "epsg"}')
    rotation = _number(body.get("rotation", 0.0), "rotation")
    height = _number(body.get("height", 0.0), "height")
    try:
        placed = make_manual_placement(anchor=clean, rotation_deg=rotation, height=height)
    except ValueError as exc:
        raise InvalidParameterValue(str(exc)) from exc
    with _pool().connection() as conn:
        conn.autocommit = True
        ingest.place_model(conn, model_id, placed,
                           suspect_distance_m=_ingest().suspect_distance_m)
        return jsonify(ingest.get_model(conn, model_id))


def _ensure_worker(app: Flask) -> None:
    """Start this process's parse worker once (gunicorn workers each have their own)."""
    settings = app.extensions["sitewatch_ingest"]
    if not settings.worker or app.extensions.get("sitewatch_ingest_worker") is not None:
        return
    url = db.resolve_url(app.config["SITEWATCH_SETTINGS"].database, start=False)
    worker = ingest.Worker(url, data_dir=app.config["SITEWATCH_SETTINGS"].database.data_dir,
                           settings=settings)
    app.extensions["sitewatch_ingest_worker"] = worker
    worker.start()


def init_app(app: Flask) -> None:
    """Register the blueprint and start the background parse worker."""
    app.extensions["sitewatch_ingest"] = IngestSettings()
    app.register_blueprint(bp, url_prefix="/api/v1")
    _ensure_worker(app)
