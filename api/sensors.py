"""REST for site sensors: registry CRUD, rule overrides, time series and HTTP ingest.

``/api/v1/projects/{code}/sensors``, ``/api/v1/sensors/{id}``, ``/api/v1/sensors/{id}/readings``,
``/api/v1/projects/{code}/sensor-rules`` and ``POST /api/v1/readings`` (gateway token).  Writes
need an admin token, a supervisor token of the project's district, or an enterprise token of one
of the project's parties.  Alarms and webhooks live in :mod:`api.alarms`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from api import alarms as alarm_routes
from api.auth import require
from api.common import json_body as _body
from api.common import pool as _pool
from api.errors import Forbidden, InvalidParameterValue, InvalidRequest
from sensors import crud, series
from sensors.engine import Engine
from sensors.ingest import REASONS, Checker, Partitions, Reading, Rejected, write_batch
from sensors.registry import Registry
from sensors.settings import SensorSettings
from spatial import projects
from spatial.features import parse_datetime

bp = Blueprint("sensors", __name__)

MAX_HTTP_BATCH = 10_000


@dataclass
class IngestState:
    """What HTTP ingest keeps per process; one batch at a time (the engine caches per sensor)."""

    settings: SensorSettings
    registry: Registry = field(default_factory=Registry)
    partitions: Partitions = field(default_factory=Partitions)
    engine: Engine = field(default_factory=Engine)
    lock: threading.Lock = field(default_factory=threading.Lock)


def init_app(app: Flask) -> None:
    app.extensions["sitewatch_sensor_ingest"] = IngestState(SensorSettings())
    app.register_blueprint(bp, url_prefix="/api/v1")
    alarm_routes.init_app(app)


def check_project_write(conn, project_code: str) -> None:
    """403 unless the token may change this project's sensors."""
    token = g.token
    district, parties = projects.parties(conn, project_code)
    if token.role == "supervisor" and token.scope and district != token.scope:
        raise Forbidden(f"this supervisor token covers district {token.scope} only")
    if token.role == "enterprise" and (not token.scope or token.scope not in parties):
        raise Forbidden("this enterprise is not a party to the project")


# -- registry ---------------------------------------------------------------------------------------

@bp.get("/projects/<code>/sensors")
def list_sensors(code: str) -> Response:
    with _pool().connection() as conn:
        rows = crud.listing(conn, code)
    return jsonify({"sensors": rows, "numberReturned": len(rows)})


@bp.post("/projects/<code>/sensors")
@require("admin", "supervisor", "enterprise")
def create_sensor(code: str) -> tuple[Response, int, dict]:
    fields = crud.validate(_body(), create=True)
    with _pool().connection() as conn:
        check_project_write(conn, code)
        created = crud.create(conn, code, fields)
    location = f"{request.host_url.rstrip('/')}/api/v1/sensors/{created['id']}"
    return jsonify(created), 201, {"Location": location}


@bp.get("/sensors/<int:sensor_id>")
def get_sensor(sensor_id: int) -> Response:
    with _pool().connection() as conn:
        return jsonify(crud.get(conn, sensor_id))


@bp.patch("/sensors/<int:sensor_id>")
@require("admin", "supervisor", "enterprise")
def update_sensor(sensor_id: int) -> Response:
    fields = crud.validate(_body(), create=False)
    with _pool().connection() as conn:
        check_project_write(conn, crud.project_of(conn, sensor_id))
        return jsonify(crud.update(conn, sensor_id, fields))


@bp.delete("/sensors/<int:sensor_id>")
@require("admin", "supervisor", "enterprise")
def delete_sensor(sensor_id: int) -> Response:
    with _pool().connection() as conn:
        check_project_write(conn, crud.project_of(conn, sensor_id))
        crud.delete(conn, sensor_id)
    return Response(status=204)


@bp.get("/projects/<code>/sensor-rules")
def get_project_rules(code: str) -> Response:
    with _pool().connection() as conn:
        return jsonify(crud.project_rules(conn, code))


@bp.put("/projects/<code>/sensor-rules")
@require("admin", "supervisor", "enterprise")
def put_project_rules(code: str) -> Response:
    body = _body()
    with _pool().connection() as conn:
        check_project_write(conn, code)
        return jsonify(crud.set_project_rules(conn, code, body))


# -- time series ------------------------------------------------------------------------------------

def _range() -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    start = end = None
    if "from" in request.args:
        start = parse_datetime(request.args["from"])[0]
    if "to" in request.args:
        end = parse_datetime(request.args["to"])[1]
    end = end or now
    start = start or end - timedelta(days=1)
    if start >= end:
        raise InvalidParameterValue("from must be before to")
    return start, end


@bp.get("/sensors/<int:sensor_id>/readings")
def readings(sensor_id: int) -> Response:
    """?from=&to= (RFC 3339; default the last 24 h), bucket=1h (or raw), format=json|csv."""
    unknown = set(request.args) - {"from", "to", "bucket", "format"}
    if unknown:
        raise InvalidParameterValue(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidParameterValue("format must be json or csv")
    bucket_text = request.args.get("bucket", "1h")
    bucket_s = series.parse_bucket(bucket_text)
    start, end = _range()
    with _pool().connection() as conn:
        sensor = crud.get(conn, sensor_id)
        rows: list[tuple]
        if bucket_s is None:
            rows = series.raw(conn, sensor_id, start, end)
            header: tuple[str, ...] = ("ts", "value", "seq")
        else:
            rows = series.aggregate(conn, sensor_id, start, end, bucket_s)
            header = ("bucket_start", "min", "max", "mean", "count")
    if fmt == "csv":
        name = f"sensor-{sensor_id}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
        return Response(series.csv_lines(header, rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    key = "readings" if bucket_s is None else "buckets"
    return jsonify({
        "sensor": {k: sensor[k] for k in ("id", "code", "kind", "unit", "project_code")},
        "from": start.isoformat(), "to": end.isoformat(), "bucket": bucket_text,
        key: [dict(zip(header, (v.isoformat() if isinstance(v, datetime) else v for v in row)))
              for row in rows],
    })


# -- HTTP ingest ------------------------------------------------------------------------------------

@bp.post("/readings")
@require("gateway", "admin")
def ingest() -> Response:
    """A batch of readings: a JSON array (or {"readings": [...]}) of
    {project_code, sensor_code, ts, value, unit?, seq?}; one transaction; counts back."""
    body = _body()
    items = body.get("readings") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise InvalidRequest("the body must be a JSON array of readings (or {\"readings\": [...]})")
    if len(items) > MAX_HTTP_BATCH:
        raise InvalidRequest(f"at most {MAX_HTTP_BATCH} readings per request")
    scope = g.token.scope if g.token.role == "gateway" else None
    state: IngestState = current_app.extensions["sitewatch_sensor_ingest"]
    with state.lock, _pool().connection() as conn:
        with conn.transaction():
            state.registry.refresh(conn)
        check = Checker(state.registry, state.settings)
        parsed = [check.item(item, scope) for item in items]
        good = [p for p in parsed if type(p) is Reading]
        bad = [p for p in parsed if type(p) is Rejected]
        try:
            result = write_batch(conn, good, bad, partitions=state.partitions,  # type: ignore[arg-type]
                                 engine=state.engine, registry=state.registry)
        except Exception:
            state.engine.forget()
            raise
    errors = [{"index": i, "reason": p.reason, "description": REASONS[p.reason], "detail": p.detail}
              for i, p in enumerate(parsed) if type(p) is Rejected]
    return jsonify({"accepted": result.accepted, "duplicate": result.duplicate,
                    "rejected": result.rejected, "errors": errors,
                    "alarm_events": [{"alarm_id": e.alarm_id, "event": e.event, "level": e.level}
                                     for e in result.events]})

