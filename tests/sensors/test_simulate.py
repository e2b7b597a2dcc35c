"""The sample sensors and the simulator: the right sensors on the right sites, readings that
the default rules turn into the promised episodes, and ``sitewatch sensors simulate`` feeding a
running worker through the tests' broker."""

from __future__ import annotations

import os
import subprocess
import time

import psycopg

from sensors import simulate
from sensors.rules import Runtime, compile_rules
from sensors.sample import load_sensors
from tests.sensors.conftest import SITEWATCH


def effective(conn: psycopg.Connection) -> dict[int, dict]:
    return dict(conn.execute("SELECT id, rules FROM sitewatch.sensor_effective").fetchall())


def test_sample_sensors_follow_the_hazardous_works(sconn):
    summary = load_sensors(sconn, seed=3, max_projects=10)
    rows = sconn.execute(
        "SELECT p.code, p.hazardous_works, array_agg(s.kind ORDER BY s.kind) FROM sitewatch.sensor s "
        "JOIN sitewatch.project p ON p.id = s.project_id GROUP BY p.code, p.hazardous_works, "
        "p.stage HAVING p.stage = 'under_construction'").fetchall()
    assert summary["sites"] == len(rows) and summary["sensors"] == sum(len(r[2]) for r in rows)
    for code, hazards, kinds in rows:
        categories = {h["category"] for h in hazards}
        assert {"pm10", "noise"} <= set(kinds), code
        assert ("pit_wall_displacement" in kinds) == ("excavation" in categories), code
        assert ("settlement" in kinds) == ("excavation" in categories), code
        assert ("crane_load_moment" in kinds) == ("lifting" in categories), code
        assert ("wind_speed" in kinds) == ("lifting" in categories), code
    first = sconn.execute("SELECT p.code, s.code, ST_AsText(s.location) FROM sitewatch.sensor s "
                          "JOIN sitewatch.project p ON p.id = s.project_id ORDER BY 1, 2").fetchall()
    load_sensors(sconn, seed=3, max_projects=10)
    again = sconn.execute("SELECT p.code, s.code, ST_AsText(s.location) FROM sitewatch.sensor s "
                          "JOIN sitewatch.project p ON p.id = s.project_id ORDER BY 1, 2").fetchall()
    assert first == again
    places = sconn.execute("SELECT category FROM sitewatch.poi WHERE source = 'sample' ORDER BY 1")
    assert [r[0] for r in places] == ["hospital", "school"]


def test_simulated_series_give_the_promised_episodes(sconn):
    load_sensors(sconn, seed=3, max_projects=10)
    rules = effective(sconn)
    origin = (time.time() // 86400 - 3) * 86400
    sensors = simulate.load(sconn, origin)
    opened: dict[str, set[str]] = {}
    for s in sensors:
        rt = Runtime(compile_rules(rules[s.id]))
        step = 3600.0 if s.kind in ("pit_wall_displacement", "settlement") else 60.0
        t = origin
        while t < origin + 3 * 86400:
            for e in rt.feed(t, simulate.value_at(s, t)):
                if e.event in ("opened", "escalated"):
                    opened.setdefault(s.kind, set()).add(e.rule)
            t += step
    assert "night" in opened["noise"]                 # a night pour breaches 55 dB(A)
    assert "mean_15min" in opened["pm10"]             # earthwork dust episodes
    assert "rate" in opened["pit_wall_displacement"]  # a wall drifting 3.6 mm/day
    assert "level" in opened.get("crane_load_moment", set()) | opened.get("wind_speed", set())
    assert "settlement" not in opened                 # creep stays quiet


def test_simulate_command_feeds_the_worker(sconn, sensors_url, broker, worker_factory, tmp_path):
    load_sensors(sconn, seed=3, max_projects=3)
    n_sensors = sconn.execute("SELECT count(*) FROM sitewatch.sensor").fetchone()[0]
    worker = worker_factory(broker.url).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITEWATCH_")}
    env.update(SITEWATCH_DATABASE_URL=sensors_url, SITEWATCH_DATA=str(tmp_path))
    done = subprocess.run(
        [str(SITEWATCH), "sensors", "simulate", "--url", broker.url, "--backfill-hours", "2",
         "--speed", "3600", "--duration", "3"], env=env, capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 0, done.stderr
    sent = int(done.stdout.strip().rsplit(":", 1)[1].strip(" }"))
    assert sent >= n_sensors * 100        # two hours of one-minute readings, caught up
    deadline = time.monotonic() + 30
    while sconn.execute("SELECT count(*) FROM sitewatch.reading").fetchone()[0] < sent:
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.1)
    assert sconn.execute("SELECT count(*) FROM sitewatch.reading").fetchone()[0] == sent
    assert sconn.execute("SELECT count(*) FROM sitewatch.dead_letter").fetchone()[0] == 0
