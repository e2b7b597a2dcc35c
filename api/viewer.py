"""The map page at ``/``, its static files, and the small JSON feeds only the page uses.

The page itself is built by the ``viewer`` package (pydeck specs, no Flask); this blueprint reads
the database for it, renders ``viewer/templates/index.html`` and serves ``viewer/static``
(deck.gl from ``static/vendor``, built by ``scripts/build-viewer.sh``; never a CDN).
"""

from __future__ import annotations

import mimetypes
from datetime import date
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory

import viewer
from api.common import pool as _pool
from api.errors import InvalidParameterValue, NotFound
from viewer import data, spec
from viewer.settings import ViewerSettings

bp = Blueprint("viewer", __name__, template_folder=viewer.TEMPLATES)
STATIC = Path(viewer.STATIC)


@bp.record_once
def _settings(state) -> None:
    """Viewer settings are built when ``create_app`` registers the blueprint (from the app's
    ``SITEWATCH_VIEWER_SETTINGS`` when a caller set one, else from the environment)."""
    app = state.app
    app.extensions["sitewatch_viewer"] = app.config.get("SITEWATCH_VIEWER_SETTINGS") or ViewerSettings()
    # Flask's app-level ``/static`` route (api/ has no static folder) would shadow ours.
    if "static" in app.view_functions:
        app.view_functions["static"] = static_file


def viewer_settings() -> ViewerSettings:
    return current_app.extensions["sitewatch_viewer"]


@bp.get("/")
def index() -> Response:
    settings = viewer_settings()
    with _pool().connection() as conn:
        available = data.availability(conn)
        page = spec.page_spec(
            settings,
            home=data.home_view(conn),
            district_labels=data.district_labels(conn),
            models=data.models(conn) if available["meshes"] else [],
            available={"bim-elements": available["bim"]},
            schedule=data.schedule_range(conn) if available["bim"] else None,
        )
    html = render_template(
        "index.html", spec_json=spec.spec_json(page), base_url=current_app.config[
            "SITEWATCH_SETTINGS"].app.base_url,
        vendor_ok=(STATIC / "vendor" / "deck-bundle.js").is_file())
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _bbox(text: str | None) -> tuple[float, float, float, float]:
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in (text or "").split(","))
    except ValueError as exc:
        raise InvalidParameterValue("bbox must be minlon,minlat,maxlon,maxlat") from exc
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise InvalidParameterValue("bbox must be minlon,minlat,maxlon,maxlat within CRS84")
    if (xmax - xmin) * (ymax - ymin) > 4.0:
        raise InvalidParameterValue("bbox too large for BIM elements (at most 4 square degrees)")
    return xmin, ymin, xmax, ymax


def _status_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParameterValue("date must be YYYY-MM-DD") from exc


@bp.get("/viewer/elements.json")
def elements() -> Response:
    """BIM element footprints in a bbox with their planned window (the 4D replay's data) and,
    with ``date``, their reported 4D status at that date."""
    bbox = _bbox(request.args.get("bbox"))
    status_date = _status_date(request.args.get("date"))
    with _pool().connection() as conn:
        body = data.element_features(conn, bbox, status_date=status_date)
    return Response(body, mimetype="application/geo+json")


@bp.get("/viewer/models/<int:model_id>/elements.json")
def model_elements(model_id: int) -> Response:
    """One model's elements by GlobalId with their planned window and, with ``date``, their
    reported 4D status: the colours of the model's mesh (GLB nodes are named by GlobalId)."""
    status_date = _status_date(request.args.get("date"))
    with _pool().connection() as conn:
        body = data.model_elements(conn, model_id, status_date=status_date)
    if body is None:
        raise NotFound(f"model {model_id} not found")
    return Response(body, mimetype="application/json")


@bp.get("/viewer/parties")
def parties() -> Response:
    """``{credit_code: name}`` for the credit codes in ``codes`` (comma separated, ≤ 20)."""
    codes = [c.strip() for c in request.args.get("codes", "").split(",") if c.strip()]
    with _pool().connection() as conn:
        names = data.party_names(conn, codes)
    return current_app.json.response(names)


@bp.get("/static/<path:filename>")
def static_file(filename: str) -> Response:
    """Page assets; the generated vendor bundles go out gzip-compressed when the client takes it."""
    if filename.endswith(".js") and "gzip" in request.accept_encodings and \
            (STATIC / (filename + ".gz")).is_file():
        response = send_from_directory(STATIC, filename + ".gz", max_age=3600)
        response.headers["Content-Encoding"] = "gzip"
        response.mimetype = mimetypes.guess_type(filename)[0] or "text/javascript"
        response.vary.add("Accept-Encoding")
        return response
    return send_from_directory(STATIC, filename, max_age=3600 if filename.startswith("vendor/")
                               else 0)
