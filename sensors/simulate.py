"""A site-sensor simulator: plausible readings for every registered sensor, published over MQTT.

Each value is a function of (sensor, time) only, so a replay publishes the same numbers:

- noise: a working-day cycle (quiet nights, busy mornings and afternoons); on some nights a
  concrete pour after 23:00 breaches the 55 dB(A) night limit for an hour or so;
- dust (PM10, PM2.5, TSP): a daily swing plus earthwork episodes of an hour or two that push the
  15-minute mean over the site limit several windows running;
- pit wall, settlement, deep displacement: slow creep; one wall point in five starts drifting
  at 3.6 mm/day after the first simulated day, a rate alarm two days later;
- crane load moment: lift cycles in working hours, now and then one above 90 % or 100 %;
- wind: a daily swing with gusty afternoons that sometimes pass level 6 (10.8 m/s).

Time runs from ``backfill`` hours ago at ``speed`` × real time until it catches up with the
clock, then in real time: readings are never in the future, so alarms that take days (the wall's
rate over consecutive days) appear within minutes of a start.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import psycopg

from sensors import broker
from sensors.kinds import KINDS

logger = logging.getLogger(__name__)

LOCAL = timezone(timedelta(hours=8))   # Asia/Shanghai has no daylight saving
DAY = 86400.0


@dataclass(frozen=True)
class SimSensor:
    id: int
    project_code: str
    code: str
    kind: str
    origin: float          # when the simulation started (displacement baselines)

    @property
    def topic(self) -> str:
        return f"sitewatch/{self.project_code}/{self.code}"


def _hash(*parts: int) -> float:
    """A deterministic pseudo-random number in [0, 1) from integers."""
    h = 2166136261
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
        h ^= h >> 13
    return ((h * 2654435761) & 0xFFFFFFFF) / 2 ** 32


def _jitter(sid: int, t: float, scale: float) -> float:
    return (_hash(sid, int(t)) - 0.5) * 2 * scale


def value_at(s: SimSensor, t: float) -> float:
    local = datetime.fromtimestamp(t, LOCAL)
    hour = local.hour + local.minute / 60
    day = int((t + 8 * 3600) // DAY)
    j = _jitter(s.id, t, 1.0)
    if s.kind == "noise":
        if 6 <= hour < 22:
            busy = 7.0 if 8 <= hour < 12 or 13 <= hour < 18 else 2.0
            breach = 9.0 if _hash(s.id, day, 1) < 0.25 and 14.5 <= hour < 15.2 else 0.0
            return round(57 + busy + breach + 2 * j, 1)
        pour = _hash(s.id, day, 2) < 0.4 and (hour >= 23 or hour < 0.5)
        return round((61 if pour else 46) + 2 * j, 1)
    if s.kind in ("pm10", "pm25", "tsp"):
        factor = {"pm10": 1.0, "pm25": 0.55, "tsp": 2.2}[s.kind]
        base = 45 + 12 * math.sin(2 * math.pi * (hour - 9) / 24)
        hour_index = int(t // 3600)
        episode = 0.0
        for back in range(2):
            if _hash(s.id, hour_index - back, 3) < 0.05:   # an earthwork episode
                episode = 95.0
        return round(factor * max(5.0, base + episode + 8 * j), 1)
    if s.kind in ("pit_wall_displacement", "settlement", "deep_displacement"):
        days = max(0.0, (t - s.origin) / DAY)
        creep = {"pit_wall_displacement": 0.4, "settlement": 0.3, "deep_displacement": 0.3}[s.kind]
        drift = s.kind == "pit_wall_displacement" and s.id % 5 == 0
        mm = 3.0 + creep * days + (3.6 - creep) * max(0.0, days - 1.0) * drift
        return round(mm + 0.15 * j, 2)
    if s.kind == "crane_load_moment":
        if not 7 <= hour < 18:
            return round(2 + abs(j), 1)
        cycle = int(t // 600)
        phase = (t % 600) / 600
        peak = 40 + 45 * _hash(s.id, cycle, 4)
        rare = _hash(s.id, cycle, 5)
        peak = 102.0 if rare < 0.004 else 93.0 if rare < 0.02 else peak
        return round(peak * math.sin(math.pi * phase) + abs(j), 1)
    if s.kind == "wind_speed":
        gusty = _hash(s.id, day, 6) < 0.2 and 13 <= hour < 16
        return round(max(0.0, 3 + 2 * math.sin(2 * math.pi * (hour - 14) / 24)
                         + (8.5 if gusty else 0.0) + 1.2 * j), 1)
    if s.kind == "strut_force":
        return round(3000 + 200 * math.sin(2 * math.pi * hour / 24) + 30 * j, 0)
    if s.kind == "tilt":
        return round(1.2 + 0.3 * j, 2)
    if s.kind == "water_level":
        return round(-0.2 - 0.05 * (t - s.origin) / DAY + 0.02 * j, 3)
    return round(j, 2)


def payload(s: SimSensor, t: float, seq: int) -> bytes:
    stamp = datetime.fromtimestamp(t, LOCAL).isoformat(timespec="seconds")
    return json.dumps({"ts": stamp, "value": value_at(s, t), "unit": KINDS.get(s.kind),
                       "seq": seq}, ensure_ascii=False).encode("utf-8")


def load(conn: psycopg.Connection, origin: float) -> list[SimSensor]:
    rows = conn.execute("SELECT s.id, p.code, s.code, s.kind FROM sitewatch.sensor s "
                        "JOIN sitewatch.project p ON p.id = s.project_id ORDER BY s.id").fetchall()
    return [SimSensor(r[0], r[1], r[2], r[3], origin) for r in rows]


def run(database_url: str, mqtt_url: str, *, rate: float = 2000.0, speed: float = 600.0,
        backfill_hours: float = 48.0, interval_s: float = 60.0, duration_s: float | None = None,
        stop: threading.Event | None = None) -> int:
    """Publish until ``stop`` is set or ``duration_s`` passes; the number of messages sent."""
    stop = stop or threading.Event()
    start_clock = time.time()
    origin = (start_clock - backfill_hours * 3600) // interval_s * interval_s
    with psycopg.connect(database_url) as conn:
        sensors = load(conn, origin)
    if not sensors:
        logger.warning("no sensors registered: nothing to simulate (sitewatch sample city)")
        return 0
    host, port = broker.parse_url(mqtt_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sitewatch-sim-{os.getpid()}")
    client.max_inflight_messages_set(200)
    client.reconnect_delay_set(0.2, 5)  # type: ignore[arg-type]  # paho accepts seconds as float
    client.connect(host, port, keepalive=30)
    client.loop_start()
    logger.info("simulating %d sensors from %s, ×%g until caught up, ≤ %g msg/s, to %s",
                len(sensors), datetime.fromtimestamp(origin, LOCAL).isoformat(timespec="minutes"),
                speed, rate, mqtt_url)
    sim_t, sent, wall0 = origin, 0, time.monotonic()
    last: mqtt.MQTTMessageInfo | None = None
    budget, budget_at = 0.0, time.monotonic()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if duration_s is not None and now - wall0 >= duration_s:
                break
            target = min(origin + (now - wall0) * speed, time.time())
            if sim_t > target:
                stop.wait(min(0.2, interval_s / max(speed, 1.0)))
                continue
            budget = min(max(rate, len(sensors)), budget + (now - budget_at) * rate)
            budget_at = now
            if budget < len(sensors):
                stop.wait((len(sensors) - budget) / rate)
                continue
            budget -= len(sensors)
            seq = int(sim_t // interval_s)
            for s in sensors:
                last = client.publish(s.topic, payload(s, sim_t, seq), qos=1)
            sent += len(sensors)
            sim_t += interval_s
    finally:
        if last is not None:
            try:
                last.wait_for_publish(timeout=10)
            except (RuntimeError, ValueError):
                pass
        client.disconnect()
        client.loop_stop()
        logger.info("simulator sent %d readings", sent)
    return sent
