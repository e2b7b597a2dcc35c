"""Who hears about alarms: webhooks, cross-department notification rules, sensitive places."""

from __future__ import annotations

import json
import secrets
from typing import Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sensors.crud import Location
from sensors.kinds import KINDS
from spatial.errors import NotFound, ValidationFailed

EVENTS = ("opened", "escalated", "acknowledged", "closed", "card_changed")  # card: 0010
Level = Literal["warning", "alarm"]
Kind = Literal[tuple(KINDS)]  # type: ignore[valid-type]  # built from the kinds table
Event = Literal[EVENTS]  # type: ignore[valid-type]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    role: str = Field(pattern=r"^[a-z_]{1,40}$")
    routing: Literal["scope", "rule"] = "scope"
    project_code: str | None = Field(default=None, max_length=64)
    district_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    min_level: Level = "warning"
    kinds: list[Kind] | None = None  # type: ignore[valid-type]
    events: list[Event] = Field(default_factory=lambda: ["opened", "escalated", "closed"],
                                min_length=1)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(pattern=r"^[a-z0-9_]{1,80}$")
    kinds: list[Kind] = Field(min_length=1)  # type: ignore[valid-type]
    min_level: Level = "alarm"
    events: list[Event] = Field(default_factory=lambda: ["opened", "escalated", "closed"],
                                min_length=1)
    place_categories: list[str] = Field(min_length=1)
    distance_m: float = Field(gt=0, le=50_000)
    notify_role: str = Field(pattern=r"^[a-z_]{1,40}$")

    @field_validator("place_categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        if not all(isinstance(c, str) and 0 < len(c) <= 40 for c in v):
            raise ValueError("categories are short strings")
        return v


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(pattern=r"^[a-z_]{1,40}$")
    location: Location
    source: str | None = Field(default=None, max_length=200)


def _parse(model: type[BaseModel], body: object) -> dict:
    try:
        return model.model_validate(body).model_dump()
    except ValidationError as exc:
        raise ValidationFailed("invalid input", [
            {"row": 0, "field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
            for e in exc.errors()]) from exc


def _rows(conn: psycopg.Connection, query: str, params: tuple = ()) -> list[dict]:
    return [json.loads(r[0]) for r in conn.execute(query, params).fetchall()]


_WEBHOOK = ("SELECT json_build_object('id', id, 'name', name, 'url', url, 'role', role, "
            "'routing', routing, 'project_code', project_code, 'district_code', district_code, "
            "'min_level', min_level, 'kinds', kinds, 'events', events, 'active', active, "
            "'created_at', created_at)::text FROM sitewatch.webhook")


def list_webhooks(conn: psycopg.Connection) -> list[dict]:
    return _rows(conn, _WEBHOOK + " ORDER BY id")


def create_webhook(conn: psycopg.Connection, body: object) -> dict:
    """Create a webhook; the answer carries the signing secret (generated when not given)."""
    w = _parse(WebhookIn, body)
    secret = w["secret"] or secrets.token_urlsafe(32)
    with conn.transaction():
        wid = conn.execute(
            "INSERT INTO sitewatch.webhook (name, url, secret, role, routing, project_code, "
            "district_code, min_level, kinds, events) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s) RETURNING id",
            (w["name"], w["url"], secret, w["role"], w["routing"], w["project_code"],
             w["district_code"], w["min_level"], w["kinds"], w["events"])).fetchone()[0]  # type: ignore[index]
    created = _rows(conn, _WEBHOOK + " WHERE id = %s", (wid,))[0]
    return {**created, "secret": secret}


def delete_webhook(conn: psycopg.Connection, webhook_id: int) -> None:
    with conn.transaction():
        if conn.execute("DELETE FROM sitewatch.webhook WHERE id = %s", (webhook_id,)).rowcount == 0:
            raise NotFound(f"webhook {webhook_id} not found")


_RULE = ("SELECT json_build_object('id', id, 'name', name, 'kinds', kinds, 'min_level', min_level,"
         " 'events', events, 'place_categories', place_categories, 'distance_m', distance_m, "
         "'notify_role', notify_role, 'active', active)::text FROM sitewatch.notification_rule")


def list_rules(conn: psycopg.Connection) -> list[dict]:
    return _rows(conn, _RULE + " ORDER BY id")


def create_rule(conn: psycopg.Connection, body: object) -> dict:
    r = _parse(RuleIn, body)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM sitewatch.notification_rule WHERE name = %s",
                        (r["name"],)).fetchone():
            raise ValidationFailed("a rule with this name exists", [
                {"row": 0, "field": "name", "reason": "duplicate rule name"}])
        rid = conn.execute(
            "INSERT INTO sitewatch.notification_rule (name, kinds, min_level, events, "
            "place_categories, distance_m, notify_role) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id", (r["name"], r["kinds"], r["min_level"], r["events"],
                             r["place_categories"], r["distance_m"], r["notify_role"])
        ).fetchone()[0]  # type: ignore[index]
    return _rows(conn, _RULE + " WHERE id = %s", (rid,))[0]


def delete_rule(conn: psycopg.Connection, rule_id: int) -> None:
    with conn.transaction():
        if conn.execute("DELETE FROM sitewatch.notification_rule WHERE id = %s",
                        (rule_id,)).rowcount == 0:
            raise NotFound(f"notification rule {rule_id} not found")


_PLACE = ("SELECT json_build_object('id', id, 'name', name, 'category', category, 'source', source,"
          " 'location', ST_AsGeoJSON(ST_PointOnSurface(geom), 7)::json)::text FROM sitewatch.poi")


def list_places(conn: psycopg.Connection) -> list[dict]:
    return _rows(conn, _PLACE + " ORDER BY id")


def create_place(conn: psycopg.Connection, body: object) -> dict:
    p = _parse(PlaceIn, body)
    lon, lat = p["location"]["coordinates"][:2]
    with conn.transaction():
        pid = conn.execute(
            "INSERT INTO sitewatch.poi (name, category, geom, source) VALUES (%s, %s, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4490), %s) RETURNING id",
            (p["name"], p["category"], lon, lat, p["source"])).fetchone()[0]  # type: ignore[index]
    return _rows(conn, _PLACE + " WHERE id = %s", (pid,))[0]


def delete_place(conn: psycopg.Connection, place_id: int) -> None:
    with conn.transaction():
        if conn.execute("DELETE FROM sitewatch.poi WHERE id = %s", (place_id,)).rowcount == 0:
            raise NotFound(f"place {place_id} not found")
