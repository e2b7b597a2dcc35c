"""Webhooks: a local receiver gets the signed notification; one that fails first gets it later;
delivery survives a dispatcher restart; the cross-department rule fires only near the school."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sensors import notify
from sensors.settings import SensorSettings
from tests.sensors.conftest import add_sensor, local_midnight
from tests.sensors.test_ingest import ingest_items, iso

FAST = SensorSettings(notify_poll_s=0.1, notify_backoff_base_s=0.2, notify_timeout_s=5)
SECRET = "s3cret-for-the-tests-0123456789"
M = 1 / 111_320.0                                # degrees latitude per metre


class Receiver:
    """http.server on 127.0.0.1 that records requests and fails the first ``fail`` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": self.headers, "body": body})  # case-insensitive
                status = 500 if len(receiver.requests) <= receiver.fail else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(fail: int = 0) -> Receiver:
        made.append(Receiver(fail))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def dispatcher(sensors_url):
    stop = threading.Event()
    threads: list[notify.Dispatcher] = []

    def start() -> threading.Event:
        d = notify.Dispatcher(sensors_url, FAST, stop)
        d.start()
        threads.append(d)
        return stop

    yield start
    stop.set()
    for d in threads:
        d.join(timeout=10)


def add_webhook(conn, url: str, *, role: str = "supervisor", routing: str = "scope",
                district: str | None = None) -> int:
    return conn.execute(
        "INSERT INTO sitewatch.webhook (name, url, secret, role, routing, district_code) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (f"{role} hook", url, SECRET, role, routing, district)).fetchone()[0]


def night_noise(code: str, sensor: str, start: float) -> list[dict]:
    return [{"project_code": code, "sensor_code": sensor, "ts": iso(start + 600 * i), "value": v}
            for i, v in enumerate([50, 60, 62, 48])]


def test_receiver_gets_the_signed_webhook(sconn, projects, receivers, dispatcher):
    p = projects[0]
    add_sensor(sconn, p["code"], "N-1", "noise", "dB(A)", lon=p["lon"], lat=p["lat"])
    rx = receivers()
    add_webhook(sconn, rx.url, district=p["district"])
    dispatcher()
    night = local_midnight(1).timestamp() - 1800          # 23:30 local
    ingest_items(sconn, night_noise(p["code"], "N-1", night))
    got = rx.wait(2)
    assert len(got) == 2
    for req in got:
        h = req["headers"]
        assert notify.verify(SECRET, h["X-SiteWatch-Timestamp"], req["body"],
                             h["X-SiteWatch-Signature"])
        assert not notify.verify("another-secret-0123456789", h["X-SiteWatch-Timestamp"],
                                 req["body"], h["X-SiteWatch-Signature"])
        assert abs(int(h["X-SiteWatch-Timestamp"]) - time.time()) < 60
    bodies = [json.loads(r["body"]) for r in got]
    assert [b["event"] for b in bodies] == ["opened", "closed"]
    assert [r["headers"]["X-SiteWatch-Event"] for r in got] == ["opened", "closed"]
    opened = bodies[0]
    assert opened["sensor"]["code"] == "N-1" and opened["project"]["code"] == p["code"]
    assert (opened["alarm"]["level"], opened["alarm"]["rule"]) == ("alarm", "night")
    assert opened["route"] == "scope"
    assert sconn.execute("SELECT count(*) FROM sitewatch.outbox WHERE status = 'delivered'"
                         ).fetchone()[0] == 2


def test_other_districts_webhook_hears_nothing(sconn, projects, receivers, dispatcher):
    p = projects[0]
    other = next(q["district"] for q in projects if q["district"] != p["district"])
    add_sensor(sconn, p["code"], "N-1", "noise", "dB(A)")
    rx = receivers()
    add_webhook(sconn, rx.url, district=other)
    ingest_items(sconn, night_noise(p["code"], "N-1", local_midnight(1).timestamp() - 1800))
    assert sconn.execute("SELECT count(*) FROM sitewatch.outbox").fetchone()[0] == 0


def test_a_receiver_that_fails_first_gets_it_later(sconn, projects, receivers, dispatcher):
    p = projects[0]
    add_sensor(sconn, p["code"], "TC-1", "crane_load_moment", "%")
    rx = receivers(fail=2)
    add_webhook(sconn, rx.url)
    dispatcher()
    ingest_items(sconn, [{"project_code": p["code"], "sensor_code": "TC-1",
                          "ts": iso(time.time() - 60), "value": 103}])
    got = rx.wait(3)
    assert len(got) == 3
    assert len({r["headers"]["X-SiteWatch-Delivery"] for r in got}) == 1   # the same delivery
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        row = sconn.execute("SELECT status, attempts, last_status FROM sitewatch.outbox").fetchone()
        if row[0] == "delivered":
            break
        time.sleep(0.05)
    assert row == ("delivered", 3, 204)


def test_delivery_survives_a_dispatcher_restart(sconn, projects, receivers, sensors_url):
    p = projects[0]
    add_sensor(sconn, p["code"], "TC-1", "crane_load_moment", "%")
    rx = receivers(fail=1)
    add_webhook(sconn, rx.url)
    ingest_items(sconn, [{"project_code": p["code"], "sensor_code": "TC-1",
                          "ts": iso(time.time() - 60), "value": 103}])
    # A first dispatcher tries once, fails, and dies before the retry.
    assert notify.deliver_one(sconn, FAST) is False
    assert sconn.execute("SELECT status, attempts FROM sitewatch.outbox").fetchone() == \
        ("pending", 1)
    stop = threading.Event()
    second = notify.Dispatcher(sensors_url, FAST, stop)
    second.start()
    try:
        assert len(rx.wait(2)) == 2
    finally:
        stop.set()
        second.join(timeout=10)
    assert sconn.execute("SELECT status FROM sitewatch.outbox").fetchone()[0] == "delivered"


def test_cross_department_rule_fires_only_near_the_school(sconn, projects, receivers,
                                                          dispatcher):
    p = projects[0]
    school_lon, school_lat = p["lon"], p["lat"] + 1000 * M
    sconn.execute("INSERT INTO sitewatch.poi (name, category, geom) VALUES "
                  "('第一小学', 'school', ST_SetSRID(ST_MakePoint(%s, %s), 4490))",
                  (school_lon, school_lat))
    add_sensor(sconn, p["code"], "NEAR", "noise", "dB(A)", lon=school_lon,
               lat=school_lat - 300 * M)                       # 300 m from the school
    add_sensor(sconn, p["code"], "FAR", "noise", "dB(A)", lon=school_lon,
               lat=school_lat - 2000 * M)                      # 2 km away
    add_sensor(sconn, p["code"], "CRANE", "crane_load_moment", "%", lon=school_lon,
               lat=school_lat - 100 * M)                       # near, but not dust or noise
    env, bureau = receivers(), receivers()
    add_webhook(sconn, env.url, role="environment", routing="rule")
    add_webhook(sconn, bureau.url, role="bureau")
    dispatcher()
    night = local_midnight(1).timestamp() - 1800
    items = night_noise(p["code"], "NEAR", night) + night_noise(p["code"], "FAR", night)
    items += [{"project_code": p["code"], "sensor_code": "CRANE", "ts": iso(night), "value": 104}]
    ingest_items(sconn, items)
    bureau.wait(5)
    env.wait(2)
    time.sleep(0.5)   # anything else would have arrived by now
    env_bodies = [json.loads(r["body"]) for r in env.requests]
    assert [(b["sensor"]["code"], b["event"]) for b in env_bodies] == [("NEAR", "opened"),
                                                                      ("NEAR", "closed")]
    assert env_bodies[0]["route"] == "rule:dust_noise_near_school_hospital"
    assert sorted(json.loads(r["body"])["sensor"]["code"] for r in bureau.requests) == \
        ["CRANE", "FAR", "FAR", "NEAR", "NEAR"]


def test_a_school_project_counts_as_a_sensitive_place(sconn, projects, receivers):
    p, school = projects[0], projects[3]
    old = sconn.execute("SELECT key_livelihood FROM sitewatch.project WHERE code = %s",
                        (school["code"],)).fetchone()[0]
    sconn.execute("UPDATE sitewatch.project SET key_livelihood = 'school' WHERE code = %s",
                  (school["code"],))
    try:
        add_sensor(sconn, p["code"], "NEAR", "noise", "dB(A)", lon=school["lon"],
                   lat=school["lat"] + 200 * M)
        # A sensor on the school's own site does not count the school itself.
        add_sensor(sconn, school["code"], "OWN", "noise", "dB(A)", lon=school["lon"],
                   lat=school["lat"])
        env = receivers()
        add_webhook(sconn, env.url, role="environment", routing="rule")
        night = local_midnight(1).timestamp() - 1800
        ingest_items(sconn, night_noise(p["code"], "NEAR", night)
                     + night_noise(school["code"], "OWN", night))
        routed = sconn.execute("SELECT s.code, o.route FROM sitewatch.outbox o JOIN "
                               "sitewatch.alarm a ON a.id = o.alarm_id JOIN sitewatch.sensor s "
                               "ON s.id = a.sensor_id ORDER BY o.id").fetchall()
        assert routed == [("NEAR", "rule:dust_noise_near_school_hospital")] * 2
    finally:
        sconn.execute("UPDATE sitewatch.project SET key_livelihood = %s WHERE code = %s",
                      (old, school["code"]))
