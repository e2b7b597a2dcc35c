"""REST for alarms (list, read, acknowledge) and for who hears about them (webhooks,
cross-department notification rules, sensitive places).  Registered by :mod:`api.sensors`."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g, jsonify, request

from api.auth import require
from api.common import json_body as _body
from api.common import pool as _pool
from api.errors import Conflict, Forbidden, InvalidParameterValue, InvalidRequest
from sensors import alarms, subscriptions

bp = Blueprint("alarms", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/api/v1")


def _int(name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError as exc:
        raise InvalidParameterValue(f"{name} must be an integer") from exc
    if not lo <= value <= hi:
        raise InvalidParameterValue(f"{name} must be between {lo} and {hi}")
    return value


@bp.get("/alarms")
def list_alarms() -> Response:
    """?state=open|acknowledged|closed|active &project_code= &district_code= &limit= &offset="""
    unknown = set(request.args) - {"state", "project_code", "district_code", "limit", "offset"}
    if unknown:
        raise InvalidParameterValue(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    state = request.args.get("state")
    if state is not None and state not in (*alarms.STATES, "active"):
        raise InvalidParameterValue("state must be open, acknowledged, closed or active")
    limit, offset = _int("limit", 100, 1, 10_000), _int("offset", 0, 0, 10**9)
    with _pool().connection() as conn:
        rows, total = alarms.listing(conn, state=state,
                                     project_code=request.args.get("project_code"),
                                     district_code=request.args.get("district_code"),
                                     limit=limit, offset=offset)
    return jsonify({"alarms": rows, "numberMatched": total, "numberReturned": len(rows)})


@bp.get("/alarms/<int:alarm_id>")
def get_alarm(alarm_id: int) -> Response:
    with _pool().connection() as conn:
        return jsonify(alarms.get(conn, alarm_id))


@bp.post("/alarms/<int:alarm_id>/ack")
@require("supervisor", "admin")
def acknowledge(alarm_id: int) -> Response:
    """Body {"note": "..."}: a supervisor (of the alarm's district, when scoped) has seen it."""
    body = _body()
    note = body.get("note") if isinstance(body, dict) else None
    if not isinstance(note, str) or not note.strip() or len(note) > 2000:
        raise InvalidRequest("a note (1–2000 characters) is required to acknowledge an alarm")
    token = g.token
    with _pool().connection() as conn:
        _, district = alarms.scope(conn, alarm_id)
        if token.role == "supervisor" and token.scope and token.scope != district:
            raise Forbidden(f"this supervisor token covers district {token.scope} only")
        try:
            return jsonify(alarms.acknowledge(conn, alarm_id, token_id=token.id,
                                              note=note.strip()))
        except alarms.AlreadyAcknowledged as exc:
            raise Conflict(str(exc)) from exc


# -- notification set-up (admin) ------------------------------------------------------------------

@bp.get("/webhooks")
@require("admin")
def list_webhooks() -> Response:
    with _pool().connection() as conn:
        return jsonify({"webhooks": subscriptions.list_webhooks(conn)})


@bp.post("/webhooks")
@require("admin")
def create_webhook() -> tuple[Response, int]:
    with _pool().connection() as conn:
        return jsonify(subscriptions.create_webhook(conn, _body())), 201


@bp.delete("/webhooks/<int:webhook_id>")
@require("admin")
def delete_webhook(webhook_id: int) -> Response:
    with _pool().connection() as conn:
        subscriptions.delete_webhook(conn, webhook_id)
    return Response(status=204)


@bp.get("/notification-rules")
def list_rules() -> Response:
    with _pool().connection() as conn:
        return jsonify({"rules": subscriptions.list_rules(conn)})


@bp.post("/notification-rules")
@require("admin")
def create_rule() -> tuple[Response, int]:
    with _pool().connection() as conn:
        return jsonify(subscriptions.create_rule(conn, _body())), 201


@bp.delete("/notification-rules/<int:rule_id>")
@require("admin")
def delete_rule(rule_id: int) -> Response:
    with _pool().connection() as conn:
        subscriptions.delete_rule(conn, rule_id)
    return Response(status=204)


@bp.get("/places")
def list_places() -> Response:
    with _pool().connection() as conn:
        return jsonify({"places": subscriptions.list_places(conn)})


@bp.post("/places")
@require("admin")
def create_place() -> tuple[Response, int]:
    with _pool().connection() as conn:
        return jsonify(subscriptions.create_place(conn, _body())), 201


@bp.delete("/places/<int:place_id>")
@require("admin")
def delete_place(place_id: int) -> Response:
    with _pool().connection() as conn:
        subscriptions.delete_place(conn, place_id)
    return Response(status=204)
