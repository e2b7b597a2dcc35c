"""Make a sensor and publish a reading to it the way a gateway does (MQTT, QoS 1), for the live
refresh test.  Kept apart so that the map tests do not depend on the sensor package's internals.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest

from sensors.broker import parse_url


def pick_sensor(conn) -> dict:
    """A sensor of the test city: an existing one, else one made through ``sensors.crud``."""
    row = conn.execute(
        "SELECT s.code, p.code, ST_X(s.location), ST_Y(s.location) FROM sitewatch.sensor s "
        "JOIN sitewatch.project p ON p.id = s.project_id ORDER BY s.id LIMIT 1").fetchone()
    if row is None:
        crud = pytest.importorskip("sensors.crud")
        code, lon, lat = conn.execute(
            "SELECT code, ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint)) "
            "FROM sitewatch.project WHERE stage = 'under_construction' ORDER BY code LIMIT 1"
        ).fetchone()
        fields = crud.validate({"code": "NOISE-VIEWER-1", "kind": "noise", "unit": "dB(A)",
                                "location": {"type": "Point", "coordinates": [lon, lat]}},
                               create=True)
        with conn.transaction():
            crud.create(conn, code, fields)
        row = ("NOISE-VIEWER-1", code, lon, lat)
    return dict(zip(("code", "project_code", "lon", "lat"), row))


def publish(mqtt_url: str, sensor: dict, timeout: float = 30.0) -> float:
    """Publish one reading at QoS 1 to ``sitewatch/{project}/{sensor}`` and wait for the broker's
    PUBACK; the value sent."""
    value = round(random.uniform(40, 60), 2)
    stamp = datetime.now(timezone(timedelta(hours=8))).isoformat()   # ISO 8601 with its offset
    topic = f"sitewatch/{sensor['project_code']}/{sensor['code']}"
    host, port = parse_url(mqtt_url)
    acked = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sitewatch-viewer-test-gateway")
    client.on_publish = lambda c, u, mid, rc, props: acked.set()
    client.connect(host, port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps({"ts": stamp, "value": value}), qos=1)
        assert acked.wait(timeout), f"the broker did not acknowledge the reading on {topic}"
    finally:
        client.disconnect()
        client.loop_stop()
    return value
