"""Progress from site and planned-vs-earned deviation, under /api/v1/projects/{code}/.

POST .../progress takes a batch of reports (docs/progress.md; bim.progress.record_reports);
GET .../deviation?date=YYYY-MM-DD&format=json gives each task's PV/EV/status and the project's
PV, EV, SV, SPI and earned schedule at that status date.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from api.auth import require
from api.common import json_body, pool
from api.errors import Forbidden, InvalidParameterValue, InvalidRequest, PayloadTooLarge
from bim import progress
from bim.progress.refresher import ProgressRefresher
from bim.progress.write_csv import write_csv
from bim.progress.write_html import write_html
from bim.progress.write_xlsx import write_xlsx
from bim.settings import ProgressSettings
from spatial import db, projects

bp = Blueprint("progress", __name__)
FORMATS = ("json", "html", "csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _check_party(conn, code: str) -> None:
    """Enterprise tokens: a party to the project; supervisor tokens: the project's district."""
    token = g.token
    district, parties = projects.parties(conn, code)    # 404 for an unknown project
    if token.role == "supervisor" and token.scope and district != token.scope:
        raise Forbidden(f"this supervisor token covers district {token.scope} only")
    if token.role == "enterprise" and (not token.scope or token.scope not in parties):
        raise Forbidden("this enterprise is not a party to the project")


@bp.post("/projects/<code>/progress")
@require("admin", "supervisor", "enterprise")
def post_progress(code: str) -> Response:
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("reports"), list):
        raise InvalidRequest('the body must be {"reports": [...]}')
    reports = body["reports"]
    if len(reports) > progress.MAX_BATCH:
        raise PayloadTooLarge(f"at most {progress.MAX_BATCH} reports per request "
                              f"(got {len(reports)}); split the batch")
    with pool().connection() as conn:
        _check_party(conn, code)
        result = progress.record_reports(conn, code, reports, token_id=g.token.id)
    refresher = current_app.extensions.get("sitewatch_progress_refresher")
    if refresher is not None and result["accepted"]:
        refresher.mark(code)           # the project's PV/EV/SPI/card on the map, within seconds
    return jsonify(result)


@bp.get("/projects/<code>/deviation")
def deviation(code: str) -> Response:
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidParameterValue(f"format must be one of {', '.join(FORMATS)}")
    raw = request.args.get("date")
    try:
        status_date = date.fromisoformat(raw) if raw else \
            datetime.now(ZoneInfo("Asia/Shanghai")).date()
    except ValueError as exc:
        raise InvalidParameterValue("date must be YYYY-MM-DD") from exc
    try:
        tolerance = float(request.args.get("tolerance", 10))
    except ValueError as exc:
        raise InvalidParameterValue("tolerance must be a number of percentage points") from exc
    with pool().connection() as conn:
        result = progress.compute(conn, code, status_date, tolerance=tolerance,
                                  history=fmt == "html")
    if fmt == "csv":
        name = f"deviation-{code}-{status_date:%Y%m%d}.csv"
        return Response(write_csv(result), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    if fmt == "xlsx":
        name = f"deviation-{code}-{status_date:%Y%m%d}.xlsx"
        return Response(write_xlsx(result), mimetype=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    if fmt == "html":
        return Response(write_html(result), mimetype="text/html")
    return jsonify(result)


def _start_refresher(app: Flask) -> None:
    """This process's progress refresher (gunicorn workers each have their own)."""
    settings = ProgressSettings()
    if not settings.refresher or "sitewatch_progress_refresher" in app.extensions:
        return
    url = db.resolve_url(app.config["SITEWATCH_SETTINGS"].database, start=False)
    refresher = ProgressRefresher(url, delay_s=settings.delay_s, daily=settings.daily)
    app.extensions["sitewatch_progress_refresher"] = refresher
    refresher.start()


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/api/v1")
    _start_refresher(app)
