"""The MQTT path end to end: a real Mosquitto (the tests' own, persistence on) and the worker as
``sitewatch ingest mqtt`` in a subprocess.  Nothing is lost and nothing is duplicated across a
kill -9 of the worker or a broker restart; bad messages become dead letters and the worker goes
on."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import psycopg
import pytest

from sensors.broker import parse_url
from tests.sensors.conftest import add_sensor

N = 20_000
SENSORS = 5


class Publisher:
    """A QoS 1 publisher with a persistent session (it re-sends what the broker has not acked)."""

    def __init__(self, url: str, client_id: str) -> None:
        host, port = parse_url(url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.1, 1)
        self.acked: set[int] = set()
        self.client.on_publish = lambda c, u, mid, rc, props: self.acked.add(mid)
        self.client.connect(host, port)
        self.client.loop_start()
        self.mids: list[int] = []

    def publish(self, topic: str, payload: bytes | str) -> None:
        # While the broker is away paho queues the message (rc "no connection") and sends it
        # after reconnecting; the PUBACK (on_publish) is what counts.
        self.mids.append(self.client.publish(topic, payload, qos=1).mid)

    def wait_all(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.acked.issuperset(self.mids):
            assert time.monotonic() < deadline, "the broker did not acknowledge every publish"
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker):
    made: list[Publisher] = []

    def make(client_id: str = "test-gateway") -> Publisher:
        made.append(Publisher(broker.url, client_id))
        return made[-1]

    yield make
    for p in made:
        p.close()


def readings(code: str, start: float, n: int) -> list[tuple[str, bytes, tuple[str, float]]]:
    """(topic, payload, (sensor, ts)) of n distinct readings over SENSORS tilt sensors."""
    tz = timezone(timedelta(hours=8))
    start = round(start)
    out = []
    for i in range(n):
        sensor, t = f"T-{i % SENSORS}", start + (i // SENSORS) * 0.5
        stamp = datetime.fromtimestamp(t, tz).isoformat()
        out.append((f"sitewatch/{code}/{sensor}",
                    json.dumps({"ts": stamp, "value": 1.0 + (i % 7) / 10, "seq": i}).encode(),
                    (sensor, round(t, 3))))
    return out


def count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM sitewatch.reading").fetchone()[0]


def wait_count(conn: psycopg.Connection, n: int, timeout: float = 90.0) -> int:
    deadline = time.monotonic() + timeout
    while count(conn) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)     # let anything extra (a duplicate would be a bug) land too
    return count(conn)


def stored(conn: psycopg.Connection) -> set[tuple[str, float]]:
    return {(code, round(ts, 3)) for code, ts in conn.execute(
        "SELECT s.code, extract(epoch FROM r.ts)::float8 FROM sitewatch.reading r "
        "JOIN sitewatch.sensor s ON s.id = r.sensor_id")}


@pytest.fixture
def tilt_sensors(sconn, projects):
    code = projects[0]["code"]
    for k in range(SENSORS):
        add_sensor(sconn, code, f"T-{k}", "tilt", "‰")
    return code


def publish_first_half_and_wait(sconn, pub, msgs) -> None:
    """Publish the first half of the stream and wait until the worker has stored some of it."""
    for topic, payload, _ in msgs[: N // 2]:
        pub.publish(topic, payload)
    deadline = time.monotonic() + 30
    while count(sconn) < N // 10 and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.mark.parametrize("fast_io", [True, False], ids=["fast-io", "plain-paho"])
def test_kill_9_in_the_middle_loses_and_duplicates_nothing(sconn, tilt_sensors, broker,
                                                            publisher, worker_factory, fast_io):
    worker = worker_factory(broker.url, fast_io=fast_io).start()
    msgs = readings(tilt_sensors, time.time() - 3 * 3600, N)
    pub = publisher()
    publish_first_half_and_wait(sconn, pub, msgs)
    worker.kill9()
    at_kill = count(sconn)
    assert 0 < at_kill < N, "the kill should land in the middle of the stream"
    for topic, payload, _ in msgs[N // 2:]:       # published while the worker is dead
        pub.publish(topic, payload)
    pub.wait_all()
    worker.start()
    assert wait_count(sconn, N) == N, worker.tail()
    assert stored(sconn) == {key for _, _, key in msgs}
    assert worker.starts == 2


def test_readings_queued_for_an_absent_worker_survive_a_broker_restart(
        sconn, tilt_sensors, broker, publisher, worker_factory):
    worker = worker_factory(broker.url).start()     # creates the persistent session
    worker.kill9()
    msgs = readings(tilt_sensors, time.time() - 3 * 3600, N)
    pub = publisher()
    for topic, payload, _ in msgs:
        pub.publish(topic, payload)
    pub.wait_all()
    assert count(sconn) == 0
    broker.stop()                                   # persistence is written on the way out
    broker.start()
    worker.start()
    assert wait_count(sconn, N) == N, worker.tail()
    assert stored(sconn) == {key for _, _, key in msgs}


def test_broker_restart_mid_stream(sconn, tilt_sensors, broker, publisher, worker_factory):
    worker = worker_factory(broker.url).start()
    msgs = readings(tilt_sensors, time.time() - 3 * 3600, N)
    pub = publisher()
    publish_first_half_and_wait(sconn, pub, msgs)
    broker.stop()
    broker.start()
    for topic, payload, _ in msgs[N // 2:]:
        pub.publish(topic, payload)
    pub.wait_all()
    assert wait_count(sconn, N) == N, worker.tail()
    assert stored(sconn) == {key for _, _, key in msgs}
    assert "disconnected from" in worker.tail(200)


def test_bad_messages_are_dead_letters_and_the_worker_goes_on(sconn, projects, broker,
                                                              publisher, worker_factory):
    code = projects[0]["code"]
    add_sensor(sconn, code, "N-1", "noise", "dB(A)")
    worker = worker_factory(broker.url).start()
    pub = publisher()
    tz = timezone(timedelta(hours=8))
    now = datetime.now(tz)
    good = {"ts": (now - timedelta(minutes=5)).isoformat(), "value": 50.5}
    topic = f"sitewatch/{code}/N-1"
    bad = [
        (topic, b"not json at all", "not_json"),
        (topic, b"[50.5]", "not_object"),
        (topic, json.dumps({"value": 50}).encode(), "missing_field"),
        (f"sitewatch/{code}/NOPE", json.dumps(good).encode(), "unknown_sensor"),
        ("sitewatch/NO-SUCH-PROJECT/N-1", json.dumps(good).encode(), "unknown_project"),
        (topic, json.dumps({**good, "unit": "mm"}).encode(), "wrong_unit"),
        (topic, b'{"ts": "%s", "value": NaN}' % good["ts"].encode(), "not_finite"),
        (topic, b'{"ts": "%s", "value": Infinity}' % good["ts"].encode(), "not_finite"),
        (topic, json.dumps({**good, "value": "loud"}).encode(), "bad_value"),
        (topic, json.dumps({**good, "ts": "2026-13-45T99:00:00+08:00"}).encode(), "bad_ts"),
        (topic, json.dumps({**good, "ts": "2026-11-01T10:00:00"}).encode(), "bad_ts"),
        (topic, json.dumps({**good, "ts": (now + timedelta(hours=2)).isoformat()}).encode(),
         "future_ts"),
        (topic, json.dumps({**good, "seq": "one"}).encode(), "bad_seq"),
        ("sitewatch/too/many/levels", json.dumps(good).encode(), None),   # not subscribed
    ]
    for t, payload, _ in bad:
        pub.publish(t, payload)
    pub.publish(topic, json.dumps(good).encode())
    pub.wait_all()
    expected = [reason for _, _, reason in bad if reason]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = sconn.execute("SELECT reason, topic, payload FROM sitewatch.dead_letter "
                             "ORDER BY id").fetchall()
        if len(rows) >= len(expected) and count(sconn) == 1:
            break
        time.sleep(0.1)
    assert sorted(r[0] for r in rows) == sorted(expected), worker.tail()
    assert count(sconn) == 1
    by_reason = {r[0]: r for r in rows}
    assert by_reason["not_json"][1] == topic and bytes(by_reason["not_json"][2]) == b"not json at all"
    assert worker.proc.poll() is None
    # And it goes on: a later good reading is stored.  Dead letters were acknowledged once
    # committed: a restarted worker gets none of them again.
    pub.publish(topic, json.dumps({**good, "ts": now.isoformat()}).encode())
    pub.wait_all()
    assert wait_count(sconn, 2, timeout=30) == 2
    worker.stop()
    worker.start()
    pub.publish(topic, json.dumps({**good, "ts": (now + timedelta(seconds=1)).isoformat()}).encode())
    pub.wait_all()
    assert wait_count(sconn, 3, timeout=30) == 3
    assert sconn.execute("SELECT count(*) FROM sitewatch.dead_letter").fetchone()[0] == len(expected)
