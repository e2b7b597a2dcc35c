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
from sensors.ingest import Checker, Partitions, Reading, Rejected, Run, write_batch
from sensors.registry import Registry, SensorInfo
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

    def reason(topic: str, payload: bytes) -> str:
        [item] = check.message(topic, payload)
        return item.reason

    [reading] = check.message(topic, ok)
    assert isinstance(reading, Reading) and (reading.value, reading.seq) == (51.5, 3)
    assert reason(topic, b"{not json") == "not_json"
    assert reason(topic, b"\xff\xfe\x00") == "not_json"
    assert reason(topic, b'"just a string"') == "not_object"
    assert reason(topic, b'{"ts": "2026-01-01T00:00:00Z", "value": NaN}') == "not_finite"
    assert reason(f"sitewatch/{noise_sensor}", ok) == "bad_topic"
    assert reason(f"other/{noise_sensor}/N-1", ok) == "bad_topic"
    assert reason(topic, b"x" * (SETTINGS.ingest_max_payload_bytes + 1)) == "too_large"


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


def test_a_batched_payload_is_checked_element_by_element(sconn, noise_sensor):
    registry = Registry()
    registry.refresh(sconn)
    topic = f"sitewatch/{noise_sensor}/N-1"
    t = time.time() - 600
    elements = [
        {"ts": iso(t), "value": 50.5, "seq": 1},
        {"ts": iso(t + 1), "value": "loud"},                       # bad_value
        {"ts": iso(t + 2), "value": 51, "unit": "dBA"},
        {"value": 52.0},                                           # missing_field
        [53.0],                                                    # not_object
        {"ts": iso(t + 5), "value": 54.0, "unit": "mm"},           # wrong_unit
        {"ts": "2026-11-01T10:00:00", "value": 55.0},              # bad_ts (no offset)
        {"ts": iso(t + 7), "value": 56.0, "seq": 2.5},             # bad_seq
        {"ts": iso(t + 8), "value": 57.0},
    ]
    for payload in (json.dumps(elements).encode(), json.dumps({"readings": elements}).encode(),
                    json.dumps(elements[:-1]).encode()[:-1] + b', {"ts": "%s", "value": NaN}]'
                    % iso(t + 8).encode()):
        parsed = Checker(registry, SETTINGS).message(topic, payload)
        assert len(parsed) == len(elements)
        good = [p for p in parsed if isinstance(p, Reading)]
        assert [r.value for r in good] == [50.5, 51.0, 57.0][:len(good)]
        bad = [p for p in parsed if isinstance(p, Rejected)]
        assert [(b.reason, b.detail.split(":")[0]) for b in bad][:6] == [
            ("bad_value", "readings[1]"), ("missing_field", "readings[3]"),
            ("not_object", "readings[4]"), ("wrong_unit", "readings[5]"),
            ("bad_ts", "readings[6]"), ("bad_seq", "readings[7]")]
        assert all(b.topic == topic and b.source == "mqtt" for b in bad)
    # The last payload ended with NaN: that element alone is refused.
    assert (bad[-1].reason, bad[-1].detail.split(":")[0]) == ("not_finite", "readings[8]")
    # Each dead letter keeps its own element; the good readings of the message are stored.
    parsed = Checker(registry, SETTINGS).message(topic, json.dumps(elements).encode())
    result = write_batch(sconn, [p for p in parsed if isinstance(p, Reading)],
                         [p for p in parsed if isinstance(p, Rejected)], partitions=Partitions(),
                         engine=Engine(), registry=registry)
    assert (result.accepted, result.rejected) == (3, 6)
    rows = sconn.execute("SELECT reason, detail, payload FROM sitewatch.dead_letter ORDER BY id"
                         ).fetchall()
    assert [json.loads(bytes(r[2])) for r in rows] == [elements[i] for i in (1, 3, 4, 5, 6, 7)]
    assert rows[0][1] == "readings[1]: value is str"
    assert sconn.execute("SELECT array_agg(value ORDER BY ts) FROM sitewatch.reading"
                         ).fetchone()[0] == [50.5, 51.0, 57.0]


def test_whole_message_refusals_of_a_batched_payload(sconn, noise_sensor):
    registry = Registry()
    registry.refresh(sconn)
    settings = SETTINGS.model_copy(update={"ingest_max_readings_per_message": 5})
    check = Checker(registry, settings)
    topic = f"sitewatch/{noise_sensor}/N-1"
    one = {"ts": iso(time.time() - 60), "value": 50.0}

    def refused(topic: str, payload: bytes) -> tuple[str, str, bytes]:
        [item] = check.message(topic, payload)
        assert isinstance(item, Rejected)
        return item.reason, item.detail, item.payload

    over = json.dumps([one] * 6).encode()
    assert refused(topic, over) == ("too_many_readings", "6 readings, at most 5 per message", over)
    assert len(check.message(topic, json.dumps([one] * 5).encode())) == 5
    assert refused(topic, b"[]")[0] == "no_readings"
    assert refused(topic, b'{"readings": []}')[0] == "no_readings"
    assert refused(topic, b'{"readings": {"ts": 1}}')[0] == "bad_readings"
    assert refused(f"sitewatch/{noise_sensor}/NOPE", json.dumps([one, one]).encode())[0] == \
        "unknown_sensor"
    # The default cap is 1,000 readings.
    assert len(Checker(registry, SETTINGS).message(topic, json.dumps([one] * 1000).encode())) \
        == 1000
    assert refused(topic, b"x")[0] == "not_json"


def test_stored_and_repeated_readings_in_one_batch_are_counted_not_duplicated(sconn, noise_sensor):
    t = time.time() - 7200

    def item(i: int, value: float = 40.0) -> dict:
        return {"project_code": noise_sensor, "sensor_code": "N-1", "ts": iso(t + i),
                "value": value}

    parts = Partitions()
    first, _ = ingest_items(sconn, [item(i) for i in range(10)] + [item(3, 99.0)],
                            partitions=parts)
    assert (first.accepted, first.duplicate) == (10, 1)
    # Redelivery mixed with new readings, then new readings only (written the careful way
    # for a while after a conflict): every count is right, no row twice.
    again, _ = ingest_items(sconn, [item(i) for i in range(5, 15)], partitions=parts)
    assert (again.accepted, again.duplicate) == (5, 5)
    more, _ = ingest_items(sconn, [item(i) for i in range(15, 20)], partitions=parts)
    assert (more.accepted, more.duplicate) == (5, 0)
    assert sconn.execute("SELECT count(*), count(DISTINCT ts), max(value) FROM sitewatch.reading"
                         ).fetchone() == (20, 20, 40.0)


def test_the_all_good_shortcut_agrees_with_element_by_element_checks():
    """A batch is checked across its elements first; any doubt falls back to one by one.
    Either way each element gets the outcome a single reading would."""
    registry = Registry()
    info = SensorInfo(7, "P-1", "N-1", "noise", "dB(A)", (), {})
    registry.by_topic[("P-1", "N-1")], registry.by_id[7] = info, info
    check = Checker(registry, SETTINGS)
    now = time.time()
    base = [{"ts": iso(now - 600 + i), "value": 40.0 + i, "seq": i} for i in range(20)]
    changes = [{}, {"value": 41}, {"value": 10 ** 400}, {"value": True}, {"value": "x"},
               {"unit": "dBA"}, {"unit": "mm"}, {"ts": "2026-11-01T10:00:00"},
               {"ts": iso(now + 3600)}, {"ts": iso(now - 500 * 86400)}, {"ts": "soon"},
               {"seq": None}, {"seq": True}, {"seq": 2 ** 63}, {"seq": -(2 ** 63)}, {"seq": 1.5},
               {"unit": [1]}, {"unit": {"a": 1}}, {"unit": None},
               # valid ISO 8601 the bulk stamp reader leaves to the standard library
               {"ts": iso(now - 1).replace("T", " ")}, {"ts": iso(now - 1)[:-6] + "+0800"},
               {"ts": datetime.fromtimestamp(now - 1, timezone.utc).isoformat()[:-6] + "Z"},
               {"ts": "2026-02-30T10:00:00+08:00"}]
    for change in changes:
        for where in (0, 13):
            elements = [dict(e) for e in base]
            elements[where].update(change)
            got = check.message("sitewatch/P-1/N-1", json.dumps(elements).encode())
            want = [check._reading(info, e) for e in elements]
            assert [g.reason if isinstance(g, Rejected) else g for g in got] == \
                [w[0] if isinstance(w, tuple) else w for w in want], change
    # Units on every element, all spelling the sensor's unit: still checked across elements.
    spelled = [{**e, "unit": u} for e, u in zip(base, ["dB(A)", "dBA"] * 10)]
    got = check.take("sitewatch/P-1/N-1", json.dumps(spelled).encode())
    assert type(got) is Run and len(got) == 20
    for drop in ("ts", "value"):
        elements = [dict(e) for e in base]
        del elements[5][drop]
        got = check.message("sitewatch/P-1/N-1", json.dumps(elements).encode())
        assert [g.reason for g in got if isinstance(g, Rejected)] == ["missing_field"]
        assert sum(isinstance(g, Reading) for g in got) == 19


def test_a_batch_sent_the_careful_way_is_evaluated_once(sconn, noise_sensor):
    """A batch holding a stored reading goes again through ON CONFLICT after its COPY fails: the
    new readings are stored once and evaluated once (one crossing, one alarm)."""
    engine = Engine()
    t0 = time.time() - 600

    def item(dt: float, value: float) -> dict:
        return {"project_code": noise_sensor, "sensor_code": "N-1", "ts": iso(dt), "value": value}

    first, _ = ingest_items(sconn, [item(t0 + i, 40) for i in range(5)], engine=engine)
    assert first.accepted == 5 and first.events == []
    # the last stored reading again, then a crossing and its repeat above every noise limit
    batch = [item(t0 + 4, 40), item(t0 + 5, 120), item(t0 + 6, 121)]
    second, _ = ingest_items(sconn, batch, engine=engine)
    assert (second.accepted, second.duplicate) == (2, 1)
    assert [(e.event, e.value) for e in second.events] == [("opened", 120.0)]
    (alarms,) = sconn.execute("SELECT count(*) FROM sitewatch.alarm").fetchone()
    (transitions,) = sconn.execute("SELECT count(*) FROM sitewatch.alarm_transition").fetchone()
    assert (alarms, transitions) == (1, 1)
    (last,) = sconn.execute("SELECT s.last_value FROM sitewatch.sensor_state s JOIN "
                            "sitewatch.sensor n ON n.id = s.sensor_id WHERE n.code = 'N-1'"
                            ).fetchone()
    assert last == 121.0
