"""Alarms in the database: crafted series in batches open and close one alarm per episode,
transitions are stored, a restarted engine continues where the last one stopped, and the
database itself refuses a second open alarm for a sensor."""

from __future__ import annotations

import psycopg
import pytest

from sensors import alarms
from sensors.engine import Engine
from sensors.ingest import Partitions
from tests.sensors.conftest import add_sensor, local_midnight
from tests.sensors.test_ingest import ingest_items, iso


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def alarm_rows(conn: psycopg.Connection, sensor_id: int) -> list[tuple]:
    return conn.execute(
        "SELECT rule, level, state, opened_at, closed_at FROM sitewatch.alarm "
        "WHERE sensor_id = %s ORDER BY opened_at", (sensor_id,)).fetchall()


def test_noise_at_night_in_batches_with_redelivery(sconn, projects):
    code = projects[0]["code"]
    sid = add_sensor(sconn, code, "N-1", "noise", "dB(A)")
    night = local_midnight(2).timestamp() - 2 * 3600          # 22:00 local, two days ago
    values = [50] * 5 + [60, 58, 57, 53, 51, 52, 60, 61, 49, 48] + [47] * 5
    items = [{"project_code": code, "sensor_code": "N-1", "ts": iso(night + 600 * i), "value": v}
             for i, v in enumerate(values)]
    engine, parts = Engine(), Partitions()
    for chunk in batches(items, 4):
        ingest_items(sconn, chunk, engine=engine, partitions=parts)
    ingest_items(sconn, items[3:12], engine=engine, partitions=parts)   # redelivered: ignored
    rows = alarm_rows(sconn, sid)
    assert len(rows) == 1, rows
    rule, level, state, opened, closed = rows[0]
    assert (rule, level, state) == ("night", "alarm", "closed")
    assert opened.timestamp() == night + 600 * 5
    assert closed.timestamp() == night + 600 * 13      # first value below the clear level (50)
    events = [r[0] for r in sconn.execute(
        "SELECT event FROM sitewatch.alarm_transition t JOIN sitewatch.alarm a ON a.id = "
        "t.alarm_id WHERE a.sensor_id = %s ORDER BY t.id", (sid,))]
    assert events == ["opened", "closed"]
    state = sconn.execute("SELECT level, open_alarm_id, last_value FROM sitewatch.sensor_state "
                          "WHERE sensor_id = %s", (sid,)).fetchone()
    assert state == ("normal", None, 47.0)


def dust_items(code: str, start: float) -> list[dict]:
    values = [40.0] * 30 + [100.0] * 50 + [30.0] * 40
    return [{"project_code": code, "sensor_code": "D-1", "ts": iso(start + 60 * i), "value": v}
            for i, v in enumerate(values)]


@pytest.mark.parametrize("restart_every", [None, 7])
def test_dust_rolling_mean_survives_an_engine_restart(sconn, projects, restart_every):
    """A new Engine (a restarted worker) rebuilds the window from stored readings and reaches
    exactly the alarms a continuous one does."""
    code = projects[0]["code"]
    sid = add_sensor(sconn, code, "D-1", "pm10", "µg/m³")
    items = dust_items(code, local_midnight(1).timestamp() + 10 * 3600)
    engine = Engine()
    for i, chunk in enumerate(batches(items, 5)):
        if restart_every and i % restart_every == 0:
            engine = Engine()
        ingest_items(sconn, chunk, engine=engine)
    rows = alarm_rows(sconn, sid)
    assert [(r[0], r[1], r[2]) for r in rows] == [("mean_15min", "alarm", "closed")]
    transitions = [r[0] for r in sconn.execute(
        "SELECT event FROM sitewatch.alarm_transition WHERE alarm_id = (SELECT id FROM "
        "sitewatch.alarm WHERE sensor_id = %s) ORDER BY id", (sid,))]
    assert transitions == ["opened", "escalated", "closed"]
    # The stored peak is the largest reading of the episode.
    assert sconn.execute("SELECT peak_value FROM sitewatch.alarm WHERE sensor_id = %s",
                         (sid,)).fetchone()[0] == 100.0


def test_displacement_rate_over_consecutive_days(sconn, projects):
    code = projects[1]["code"]
    sid = add_sensor(sconn, code, "PW-1", "pit_wall_displacement", "mm")
    start = local_midnight(7).timestamp()
    items, value = [], 3.0
    for hour in range(24 * 7):
        day = hour / 24
        value += (0.5 if day < 1 else 3.5 if day < 4 else 0.2) / 24
        items.append({"project_code": code, "sensor_code": "PW-1", "ts": iso(start + hour * 3600),
                      "value": round(value, 3)})
    for chunk in batches(items, 24):
        ingest_items(sconn, chunk)
    rows = alarm_rows(sconn, sid)
    assert [(r[0], r[1], r[2]) for r in rows] == [("rate", "alarm", "closed")]
    escalated = sconn.execute("SELECT escalated_at FROM sitewatch.alarm WHERE sensor_id = %s",
                              (sid,)).fetchone()[0].timestamp()
    assert start + 2.5 * 86400 < escalated < start + 3.5 * 86400


def test_near_metro_profile_is_stricter(sconn, projects):
    code = projects[1]["code"]
    std = add_sensor(sconn, code, "PW-STD", "pit_wall_displacement", "mm")
    metro = add_sensor(sconn, code, "PW-METRO", "pit_wall_displacement", "mm",
                       profile="near_metro")
    t = local_midnight(1).timestamp()
    items = [{"project_code": code, "sensor_code": s, "ts": iso(t + 60 * i), "value": v}
             for s in ("PW-STD", "PW-METRO") for i, v in enumerate([10.0, 17.0, 21.0])]
    ingest_items(sconn, items)
    assert alarm_rows(sconn, std) == []
    assert [(r[1], r[2]) for r in alarm_rows(sconn, metro)] == [("alarm", "open")]


def test_project_and_sensor_overrides_apply(sconn, projects):
    code = projects[2]["code"]
    sconn.execute("INSERT INTO sitewatch.project_sensor_rules (project_id, kind, rules) SELECT id, "
                  "'crane_load_moment', '{\"level\": {\"warning\": 80, \"clear\": 70}}' "
                  "FROM sitewatch.project WHERE code = %s", (code,))
    a = add_sensor(sconn, code, "TC-A", "crane_load_moment", "%")
    b = add_sensor(sconn, code, "TC-B", "crane_load_moment", "%",
                   rules={"level": {"warning": 95, "alarm": 110, "clear": 90}})
    t = local_midnight(1).timestamp() + 9 * 3600
    ingest_items(sconn, [{"project_code": code, "sensor_code": s, "ts": iso(t), "value": 85}
                         for s in ("TC-A", "TC-B")])
    assert [(r[1], r[2]) for r in alarm_rows(sconn, a)] == [("warning", "open")]
    assert alarm_rows(sconn, b) == []


def test_no_second_open_alarm_for_a_sensor(sconn, projects):
    code = projects[0]["code"]
    sid = add_sensor(sconn, code, "W-1", "wind_speed", "m/s")
    t = local_midnight(1).timestamp() + 14 * 3600
    ingest_items(sconn, [{"project_code": code, "sensor_code": "W-1", "ts": iso(t + 60 * i),
                          "value": v} for i, v in enumerate([11, 12, 9, 11.5, 13, 10])])
    assert len(alarm_rows(sconn, sid)) == 1
    with pytest.raises(psycopg.errors.UniqueViolation):
        sconn.execute("INSERT INTO sitewatch.alarm (sensor_id, rule, level, opened_at) "
                      "VALUES (%s, 'level', 'alarm', now())", (sid,))


def test_acknowledge_then_escalation_reopens(sconn, projects):
    code = projects[0]["code"]
    sid = add_sensor(sconn, code, "TC-1", "crane_load_moment", "%")
    t = local_midnight(1).timestamp() + 10 * 3600
    ingest_items(sconn, [{"project_code": code, "sensor_code": "TC-1", "ts": iso(t), "value": 92}])
    alarm_id = sconn.execute("SELECT id FROM sitewatch.alarm WHERE sensor_id = %s",
                             (sid,)).fetchone()[0]
    acked = alarms.acknowledge(sconn, alarm_id, token_id=None, note="吊装暂停，检查限位器")
    assert acked["state"] == "acknowledged" and acked["ack_note"] == "吊装暂停，检查限位器"
    with pytest.raises(alarms.AlreadyAcknowledged):
        alarms.acknowledge(sconn, alarm_id, token_id=None, note="again")
    ingest_items(sconn, [{"project_code": code, "sensor_code": "TC-1", "ts": iso(t + 60),
                          "value": 101}])
    again = alarms.get(sconn, alarm_id)
    assert (again["state"], again["level"], again["acknowledged_at"]) == ("open", "alarm", None)
    assert [tr["event"] for tr in again["transitions"]] == ["opened", "acknowledged", "escalated"]
