"""Which sensor a topic names, with its effective rules: a cache the ingest paths share.

The cache is reloaded when ``sitewatch.sensor_registry.version`` (bumped in the same transaction
as any change to sensors, rule overrides, rule defaults or a project code) differs from the
version it was loaded at; ingest checks it at the start of every batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from sensors.rules import Rule, RuleError, compile_rules

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SensorInfo:
    id: int
    project_code: str
    code: str
    kind: str
    unit: str
    rules: tuple[Rule, ...]
    rules_json: dict
    rule_error: str | None = None


class Registry:
    """Sensors by (project code, sensor code) and by id."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.by_topic: dict[tuple[str, str], SensorInfo] = {}
        self.by_id: dict[int, SensorInfo] = {}

    def refresh(self, conn: psycopg.Connection) -> bool:
        """Reload when the registry changed since the last load; True when it did."""
        row = conn.execute("SELECT version FROM sitewatch.sensor_registry").fetchone()
        version = row[0] if row else 0
        if version == self.version:
            return False
        rows = conn.execute(
            "SELECT id, project_code, code, kind, unit, rules FROM sitewatch.sensor_effective"
        ).fetchall()
        previous = self.by_id
        by_topic, by_id = {}, {}
        for sid, project_code, code, kind, unit, rules_json in rows:
            old = previous.get(sid)
            if old is not None and old.rules_json == rules_json and old.unit == unit \
                    and old.code == code and old.project_code == project_code:
                info = old  # unchanged: keep the compiled rules (the engine caches by identity)
            else:
                info = _info(sid, project_code, code, kind, unit, rules_json)
            by_topic[(project_code, code)] = info
            by_id[sid] = info
        # The version last: the MQTT worker's network thread reads it before its lookups.
        self.by_topic, self.by_id, self.version = by_topic, by_id, version
        logger.debug("sensor registry v%s: %d sensors", version, len(by_id))
        return True

    def lookup(self, project_code: str, sensor_code: str) -> SensorInfo | None:
        return self.by_topic.get((project_code, sensor_code))


def _info(sid: int, project_code: str, code: str, kind: str, unit: str,
          rules_json: dict) -> SensorInfo:
    try:
        rules, error = compile_rules(rules_json), None
    except RuleError as exc:
        # Rules are validated on every write through the API; this guards against hand edits.
        logger.warning("sensor %s/%s: rules ignored: %s", project_code, code, exc)
        rules, error = (), str(exc)
    return SensorInfo(sid, project_code, code, kind, unit, rules, rules_json, error)
