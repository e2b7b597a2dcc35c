"""Ingest through the library against real PostGIS: dead letters with their reasons, duplicates,
partitions created on demand, one transaction per batch."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from sensors.engine import Engine
from sensors.ingest import Checker, Partitions, Reading, Rejected, write_batch
from sensors.registry import Registry
from sensors.settings import SensorSettings
from tests.sensors.conftest import add_sensor

SETTINGS = SensorSettings(ingest_max_future_skew_s=300, ingest_max_age_days=400)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone(timedelta(hours=8))).isoformat()


def ingest_items(conn: psycopg.Connection, items: list, *, scope: str | None = None,
                 engine: Engine | None = None, partitions: Partitions | None = None):
    registry = Registry()
    with conn.transaction():
        registry.refresh(conn)
    check = Checker(registry, SETTINGS)
    parsed = [check.item(i, scope) for i in items]
    good = [p for p in parsed if isinstance(p, Reading)]
    bad = [p for p in parsed if isinstance(p, Rejected)]
    result = write_batch(conn, good, bad, partitions=partitions or Partitions(),
                         engine=engine or Engine(), registry=registry)
    return result, parsed


@pytest.fixture
def noise_sensor(sconn, projects):
    p = projects[0]
    add_sensor(sconn, p["code"], "N-1", "noise", "dB(A)")
    return p["code"]


def test_every_bad_message_kind_is_a_dead_letter_with_its_reason(sconn, noise_sensor):
    now = time.time()
    good = {"project_code": noise_sensor, "sensor_code": "N-1", "ts": iso(now - 60), "value": 50}
    cases = {
        "not_object": ["not an object"],
        "missing_field": [{k: v for k, v in good.items() if k != "ts"},
                          {k: v for k, v in good.items() if k != "value"},
                          {k: v for k, v in good.items() if k != "sensor_code"}],
        "unknown_project": [{**good, "project_code": "NO-SUCH-PROJECT"}],
        "unknown_sensor": [{**good, "sensor_code": "NO-SUCH-SENSOR"}],
        "wrong_unit": [{**good, "unit": "mm"}, {**good, "unit": 5}],
        "not_finite": [{**good, "value": math.nan}, {**good, "value": math.inf},
                       {**good, "value": 10 ** 400}],
        "bad_value": [{**good, "value": "55"}, {**good, "value": True}, {**good, "value": None}],
        "bad_ts": [{**good, "ts": "yesterday"}, {**good, "ts": "2026-11-20T10:00:00"},
                   {**good, "ts": 1700000000}],
        "future_ts": [{**good, "ts": iso(now + 3600)}],
        "too_old": [{**good, "ts": iso(now - 500 * 86400)}],
        "bad_seq": [{**good, "seq": "7"}, {**good, "seq": 1.5}],
    }
    items = [good] + [item for group in cases.values() for item in group]
    result, parsed = ingest_items(sconn, items)
    assert result.accepted == 1 and result.rejected == len(items) - 1
    expected = [r for r, group in cases.items() for _ in group]
    assert [p.reason for p in parsed[1:]] == expected
    rows = sconn.execute("SELECT reason, payload, source FROM sitewatch.dead_letter "
                         "ORDER BY id").fetchall()
    assert [r[0] for r in rows] == expected
    assert {r[2] for r in rows} == {"http"}
    # The raw item is kept, readable as JSON.
    assert json.loads(rows[0][1]) == cases["not_object"][0]


def test_mqtt_payloads_are_checked_too(sconn, noise_sensor):
    registry = Registry()
    registry.refresh(sconn)
    check = Checker(registry, SETTINGS)
    topic = f"sitewatch/{noise_sensor}/N-1"
    ok = json.dumps({"ts": iso(time.time()), "value": 51.5, "unit": "dBA", "seq": 3}).encode()
    assert isinstance(check.mqtt(topic, ok), Reading)
    assert check.mqtt(topic, b"{not json").reason == "not_json"
    assert check.mqtt(topic, b"\xff\xfe\x00").reason == "not_json"
    assert check.mqtt(topic, b"[1, 2]").reason == "not_object"
    assert check.mqtt(topic, b'{"ts": "2026-01-01T00:00:00Z", "value": NaN}').reason == \
        "not_finite"
    assert check.mqtt(f"sitewatch/{noise_sensor}", ok).reason == "bad_topic"
    assert check.mqtt(f"other/{noise_sensor}/N-1", ok).reason == "bad_topic"
    assert check.mqtt(topic, b"x" * 20000).reason == "too_large"


def test_duplicates_are_ignored_and_counted(sconn, noise_sensor):
    t = time.time() - 3600
    items = [{"project_code": noise_sensor, "sensor_code": "N-1", "ts": iso(t + i), "value": 40.0}
             for i in range(100)]
    first, _ = ingest_items(sconn, items)
    again, _ = ingest_items(sconn, items[50:] + [{**items[0], "ts": iso(t + 1000)}])
    assert (first.accepted, first.duplicate) == (100, 0)
    assert (again.accepted, again.duplicate) == (1, 50)
    assert sconn.execute("SELECT count(*), count(DISTINCT ts) FROM sitewatch.reading"
                         ).fetchone() == (101, 101)


def test_out_of_range_month_gets_its_partition(sconn, noise_sensor):
    old = time.time() - 200 * 86400
    month = time.strftime("reading_%Y_%m", time.gmtime(old))
    sconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("sitewatch", month)))
    result, _ = ingest_items(sconn, [{"project_code": noise_sensor, "sensor_code": "N-1",
                                      "ts": iso(old), "value": 45}])
    assert result.accepted == 1
    assert sconn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"sitewatch.{month}",)).fetchone()[0]
    assert sconn.execute("SELECT count(*) FROM sitewatch.reading WHERE ts < now() - interval "
                         "'150 days'").fetchone()[0] == 1


def test_gateway_scope_limits_projects(sconn, projects):
    add_sensor(sconn, projects[1]["code"], "N-2", "noise", "dB(A)")
    item = {"project_code": projects[1]["code"], "sensor_code": "N-2", "ts": iso(time.time()),
            "value": 40}
    result, parsed = ingest_items(sconn, [item], scope=projects[0]["code"])
    assert result.rejected == 1 and parsed[0].reason == "out_of_scope"


def test_a_failing_batch_leaves_nothing(sconn, noise_sensor, monkeypatch):
    items = [{"project_code": noise_sensor, "sensor_code": "N-1", "ts": iso(time.time() - i),
              "value": 40} for i in range(10)] + ["bad"]

    class Boom(Engine):
        def evaluate(self, *a, **k):
            raise psycopg.errors.RaiseException("rule engine failed")

    with pytest.raises(psycopg.Error):
        ingest_items(sconn, items, engine=Boom())
    assert sconn.execute("SELECT count(*) FROM sitewatch.reading").fetchone()[0] == 0
    assert sconn.execute("SELECT count(*) FROM sitewatch.dead_letter").fetchone()[0] == 0
    result, _ = ingest_items(sconn, items)   # and the connection is still usable
    assert (result.accepted, result.rejected) == (10, 1)


def test_a_dropped_partition_is_noticed_and_made_again(sconn, noise_sensor):
    parts = Partitions()
    t = time.time() - 120 * 86400
    month = time.strftime("reading_%Y_%m", time.gmtime(t))

    def item(dt: float) -> dict:
        return {"project_code": noise_sensor, "sensor_code": "N-1", "ts": iso(dt), "value": 45}

    assert ingest_items(sconn, [item(t)], partitions=parts)[0].accepted == 1
    sconn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("sitewatch", month)))
    with pytest.raises(psycopg.errors.CheckViolation):   # the cache still believed in it
        ingest_items(sconn, [item(t + 1)], partitions=parts)
    assert ingest_items(sconn, [item(t + 1)], partitions=parts)[0].accepted == 1
