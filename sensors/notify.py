"""Alarm notifications: routing into the outbox, and the dispatcher that delivers it.

Routing runs in the transaction that changes the alarm (a transactional outbox): one row per
webhook and event, chosen in SQL from

- webhooks with ``routing = 'scope'`` whose project / district / kinds / level match, and
- webhooks with ``routing = 'rule'`` whose role a ``notification_rule`` names, when the sensor is
  within the rule's distance (``ST_DWithin`` on geography) of a sensitive place of the rule's
  categories (``sitewatch.sensitive_place``: POIs and key-livelihood school/hospital projects
  other than the sensor's own).

The :class:`Dispatcher` thread takes due rows one at a time with ``FOR UPDATE SKIP LOCKED`` (any
number of dispatchers may run), POSTs them with an HMAC-SHA256 signature, and on failure
schedules a retry with exponential backoff.  A row is marked delivered only after a 2xx answer,
in the same transaction that locked it, so a crash between the POST and the commit sends it again:
delivery is at least once; receivers deduplicate on ``X-SiteWatch-Delivery``.

Signature: ``X-SiteWatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``
with the timestamp (Unix seconds) in ``X-SiteWatch-Timestamp``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import psycopg

from sensors.settings import SensorSettings

logger = logging.getLogger(__name__)

_ROUTE = """
WITH a AS (
    SELECT a.*, s.code AS sensor_code, s.kind, s.unit, s.location, p.id AS project_id,
           p.code AS project_code, p.name AS project_name, p.district_code
    FROM sitewatch.alarm a
    JOIN sitewatch.sensor s ON s.id = a.sensor_id
    JOIN sitewatch.project p ON p.id = s.project_id
    WHERE a.id = %(alarm)s),
targets AS (
    SELECT w.id AS webhook_id, 'scope' AS route
    FROM sitewatch.webhook w, a
    WHERE w.active AND w.routing = 'scope' AND %(event)s = ANY (w.events)
      AND sitewatch.level_rank(a.level) >= sitewatch.level_rank(w.min_level)
      AND (w.kinds IS NULL OR a.kind = ANY (w.kinds))
      AND (w.project_code IS NULL OR w.project_code = a.project_code)
      AND (w.district_code IS NULL OR w.district_code = a.district_code)
    UNION ALL
    SELECT w.id, 'rule:' || r.name
    FROM a, sitewatch.notification_rule r
    JOIN sitewatch.webhook w ON w.role = r.notify_role AND w.routing = 'rule' AND w.active
    WHERE r.active AND a.kind = ANY (r.kinds) AND %(event)s = ANY (r.events)
      AND %(event)s = ANY (w.events)
      AND sitewatch.level_rank(a.level) >= sitewatch.level_rank(r.min_level)
      AND (w.district_code IS NULL OR w.district_code = a.district_code)
      AND (w.project_code IS NULL OR w.project_code = a.project_code)
      AND EXISTS (
          SELECT 1 FROM sitewatch.sensitive_place sp
          WHERE sp.category = ANY (r.place_categories)
            AND sp.project_id IS DISTINCT FROM a.project_id
            AND ST_DWithin(sp.geom::geography, a.location::geography, r.distance_m)))
INSERT INTO sitewatch.outbox (webhook_id, alarm_id, event, route, payload)
SELECT DISTINCT ON (t.webhook_id) t.webhook_id, a.id, %(event)s, t.route, jsonb_build_object(
    'event', %(event)s,
    'route', t.route,
    'alarm', jsonb_build_object(
        'id', a.id, 'state', a.state, 'level', a.level, 'rule', a.rule,
        'opened_at', a.opened_at, 'opened_value', a.opened_value, 'threshold', a.threshold,
        'peak_value', a.peak_value, 'escalated_at', a.escalated_at,
        'acknowledged_at', a.acknowledged_at, 'ack_note', a.ack_note,
        'closed_at', a.closed_at, 'closed_value', a.closed_value),
    'sensor', jsonb_build_object(
        'id', a.sensor_id, 'code', a.sensor_code, 'kind', a.kind, 'unit', a.unit,
        'lon', ST_X(a.location), 'lat', ST_Y(a.location)),
    'project', jsonb_build_object(
        'code', a.project_code, 'name', a.project_name, 'district_code', a.district_code))
FROM targets t, a
ORDER BY t.webhook_id, t.route = 'scope' DESC
ON CONFLICT (webhook_id, alarm_id, event) DO NOTHING
"""


def route(conn: psycopg.Connection, alarm_id: int, event: str) -> int:
    """Queue ``event`` of alarm ``alarm_id`` for every matching webhook; rows queued."""
    return conn.execute(_ROUTE, {"alarm": alarm_id, "event": event}).rowcount


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-SiteWatch-Signature`` value for a body sent at ``timestamp``.

    >>> sign("0123456789abcdef", "1700000000", b"{}")[:15]
    'sha256=e4f8e2ec'
    """
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


Poster = Callable[[str, bytes, dict, float], tuple[int | None, str | None]]


def http_post(url: str, body: bytes, headers: dict, timeout: float) -> tuple[int | None, str | None]:
    """POST; (HTTP status or None, error text or None)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


def backoff(attempts: int, settings: SensorSettings) -> float:
    """Seconds before retry number ``attempts`` (1-based), with ±20 % jitter."""
    delay = min(settings.notify_backoff_base_s * 2 ** (attempts - 1), settings.notify_backoff_max_s)
    return delay * random.uniform(0.8, 1.2)


def deliver_one(conn: psycopg.Connection, settings: SensorSettings,
                post: Poster = http_post) -> bool | None:
    """Deliver the next due outbox row: True delivered, False failed (retry later), None idle."""
    with conn.transaction():
        row = conn.execute(
            "SELECT o.id, o.event, o.payload, o.attempts, w.url, w.secret "
            "FROM sitewatch.outbox o JOIN sitewatch.webhook w ON w.id = o.webhook_id "
            "WHERE o.status = 'pending' AND o.next_attempt_at <= now() "
            "ORDER BY o.next_attempt_at, o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED").fetchone()
        if row is None:
            return None
        oid, event, payload, attempts, url, secret = row
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode("utf-8")
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "SiteWatch-webhook/1",
            "X-SiteWatch-Event": event,
            "X-SiteWatch-Delivery": str(oid),
            "X-SiteWatch-Timestamp": stamp,
            "X-SiteWatch-Signature": sign(secret, stamp, body),
        }
        status, error = post(url, body, headers, settings.notify_timeout_s)
        attempts += 1
        if status is not None and 200 <= status < 300:
            conn.execute(
                "UPDATE sitewatch.outbox SET status = 'delivered', attempts = %s, last_status = %s,"
                " last_error = NULL, delivered_at = now() WHERE id = %s", (attempts, status, oid))
            logger.info("webhook delivery %s (%s) to %s: %s", oid, event, url, status)
            return True
        gave_up = attempts >= settings.notify_max_attempts
        conn.execute(
            "UPDATE sitewatch.outbox SET attempts = %s, last_status = %s, last_error = %s, "
            "status = %s, next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
            (attempts, status, error or f"HTTP {status}", "failed" if gave_up else "pending",
             backoff(attempts, settings), oid))
        logger.warning("webhook delivery %s to %s failed (%s)%s", oid, url, error or status,
                       ": giving up" if gave_up else "")
        return False


class Dispatcher(threading.Thread):
    """Delivers the outbox until ``stop`` is set; woken by NOTIFY sitewatch_outbox or a poll."""

    def __init__(self, database_url: str, settings: SensorSettings, stop: threading.Event,
                 post: Poster = http_post) -> None:
        super().__init__(name="sitewatch-notify", daemon=True)
        self.database_url = database_url
        self.settings = settings
        self.stop = stop
        self.post = post

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.database_url, autocommit=True,
                                     application_name="sitewatch-notify") as conn, \
                        psycopg.connect(self.database_url, autocommit=True) as listener:
                    listener.execute("LISTEN sitewatch_outbox")
                    self._loop(conn, listener)
            except psycopg.OperationalError as exc:
                logger.warning("notification dispatcher lost the database: %s", exc)
                self.stop.wait(2.0)

    def _loop(self, conn: psycopg.Connection, listener: psycopg.Connection) -> None:
        while not self.stop.is_set():
            while not self.stop.is_set() and deliver_one(conn, self.settings, self.post) is not None:
                pass
            for _ in listener.notifies(timeout=self.settings.notify_poll_s, stop_after=1):
                pass
