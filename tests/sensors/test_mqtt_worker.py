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


# -- batched payloads: several readings of one sensor in one message ----------------------------

PER_MESSAGE = 50


def batched(code: str, start: float, n: int) -> list[tuple[str, bytes, list[tuple[str, float]]]]:
    """The readings of :func:`readings` as messages of PER_MESSAGE readings of one sensor (a JSON
    array, every third message as {"readings": [...]}): (topic, payload, keys)."""
    by_sensor: dict[str, list[tuple[dict, tuple[str, float]]]] = {}
    for topic, payload, key in readings(code, start, n):
        by_sensor.setdefault(topic, []).append((json.loads(payload), key))
    out = []
    for topic, items in by_sensor.items():
        for k in range(0, len(items), PER_MESSAGE):
            chunk = items[k:k + PER_MESSAGE]
            body = [obj for obj, _ in chunk]
            payload = {"readings": body} if len(out) % 3 == 2 else body
            out.append((topic, json.dumps(payload).encode(), [key for _, key in chunk]))
    out.sort(key=lambda m: m[2][0][1])          # the sensors' messages interleaved in time
    return out


@pytest.mark.parametrize("fast_io", [True, False], ids=["fast-io", "plain-paho"])
def test_batched_payloads_kill_9_in_the_middle_exactly_n_rows(sconn, tilt_sensors, broker,
                                                             publisher, worker_factory, fast_io):
    n = 5 * N                                       # several of the worker's batches
    worker = worker_factory(broker.url, fast_io=fast_io).start()
    msgs = batched(tilt_sensors, time.time() - 3 * 3600, n)
    assert len(msgs) == n // PER_MESSAGE
    pub = publisher()
    three_quarters = len(msgs) * 3 // 4
    for topic, payload, _ in msgs[:three_quarters]:
        pub.publish(topic, payload)
    # Killed while messages are still arriving and a batch is being written: a little after a
    # commit, when the worker has taken its next batch (it lets a short one fill for 50 ms).
    deadline = time.monotonic() + 30
    while count(sconn) < n // 10 and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.08)
    worker.kill9()
    at_kill = count(sconn)
    assert 0 < at_kill < n, "the kill should land in the middle of the stream"
    assert at_kill % PER_MESSAGE == 0, "a message's readings commit together"
    for topic, payload, _ in msgs[three_quarters:]:     # published while the worker is dead
        pub.publish(topic, payload)
    pub.wait_all()
    worker.start()
    assert wait_count(sconn, n) == n, worker.tail()
    assert stored(sconn) == {key for _, _, keys in msgs for key in keys}
    # Redelivered messages were written the careful way, not refused.
    assert sconn.execute("SELECT count(*) FROM sitewatch.dead_letter").fetchone()[0] == 0


def dead_letters(conn: psycopg.Connection) -> list[tuple[str, str, bytes]]:
    return [(r[0], r[1], bytes(r[2])) for r in conn.execute(
        "SELECT reason, detail, payload FROM sitewatch.dead_letter ORDER BY id")]


def test_batched_payload_bad_elements_and_over_cap_are_dead_letters(sconn, projects, broker,
                                                                    publisher, worker_factory):
    code = projects[0]["code"]
    add_sensor(sconn, code, "N-1", "noise", "dB(A)")
    worker = worker_factory(broker.url).start()
    pub = publisher()
    topic = f"sitewatch/{code}/N-1"
    t0 = time.time() - 3600
    tz = timezone(timedelta(hours=8))

    def stamp(k: float) -> str:
        return datetime.fromtimestamp(t0 + k, tz).isoformat()

    mixed = [{"ts": stamp(0), "value": 50.5, "seq": 1},
             {"ts": stamp(1), "value": "loud"},
             {"ts": stamp(2), "value": 51.0, "unit": "dBA"},
             {"ts": stamp(3)},
             {"ts": stamp(4), "value": 52.0, "unit": "mm"},
             {"ts": stamp(5), "value": 53.0}]
    over = json.dumps([{"ts": stamp(100 + k), "value": 40.0} for k in range(1001)]).encode()
    pub.publish(topic, json.dumps(mixed).encode())
    pub.publish(topic, over)
    pub.publish(topic, b'{"readings": []}')
    pub.wait_all()
    expected = [("bad_value", "readings[1]: value is str", mixed[1]),
                ("missing_field", "readings[3]: value", mixed[3]),
                ("wrong_unit", "readings[4]", mixed[4]),
                ("too_many_readings", "1001 readings, at most 1000 per message", None),
                ("no_readings", "[]", None)]
    deadline = time.monotonic() + 30
    while len(dead_letters(sconn)) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = dead_letters(sconn)
    assert [r[0] for r in rows] == [e[0] for e in expected], worker.tail()
    for (_, detail, payload), (_, want, element) in zip(rows, expected, strict=True):
        assert detail.startswith(want)
        if element is not None:
            assert json.loads(payload) == element        # the bad element itself
    assert rows[3][2] == over and rows[4][2] == b'{"readings": []}'   # the raw payload
    assert sconn.execute("SELECT array_agg(value ORDER BY ts) FROM sitewatch.reading"
                         ).fetchone()[0] == [50.5, 51.0, 53.0]
    # Every message was acknowledged after its commit: a restarted worker gets none again.
    worker.stop()
    worker.start()
    pub.publish(topic, json.dumps([{"ts": stamp(10), "value": 49.0}]).encode())
    pub.wait_all()
    assert wait_count(sconn, 4, timeout=30) == 4
    assert len(dead_letters(sconn)) == len(expected)
