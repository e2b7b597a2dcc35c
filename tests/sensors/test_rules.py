"""The rule engine on crafted series (pure Python): every rule kind opens and closes alarms,
with hysteresis, and one episode is one alarm."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from sensors.rules import ALARM, NORMAL, WARNING, RuleError, Runtime, compile_rules

LOCAL = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, tzinfo=LOCAL).timestamp()   # a local midnight
NOISE = {
    "day": {"type": "threshold", "from": "06:00", "to": "22:00", "warning": 67, "alarm": 70,
            "clear": 65},
    "night": {"type": "threshold", "from": "22:00", "to": "06:00", "warning": 52, "alarm": 55,
              "clear": 50},
}
PM10 = {
    "mean_15min": {"type": "rolling_mean", "window_s": 900, "warning": 60, "alarm": 80,
                   "clear": 50, "allowed_exceedances_per_day": 2},
    "mean_24h": {"type": "rolling_mean", "window_s": 86400, "warning": 120, "alarm": 150,
                 "clear": 100},
}
WALL = {
    "cumulative": {"type": "cumulative", "baseline": 0, "warning": 24, "alarm": 30, "clear": 21},
    "rate": {"type": "rate", "days": 2, "warning": 2.4, "alarm": 3, "clear": 1.5},
}


def run(rules: dict, series: list[tuple[float, float]]) -> list[tuple[float, str, str, int]]:
    rt = Runtime(compile_rules(rules))
    return [(e.ts, e.event, e.rule, e.level) for t, v in series for e in rt.feed(t, v)]


def at(hour: float, day: int = 0) -> float:
    return T0 + day * 86400 + hour * 3600


def test_threshold_hysteresis_gives_one_episode():
    rules = {"level": {"type": "threshold", "warning": 90, "alarm": 100, "clear": 85}}
    values = [50, 91, 89, 92, 88, 90.5, 101, 99, 86, 95, 84, 50, 91]
    events = run(rules, [(i * 60.0, v) for i, v in enumerate(values)])
    assert [(e[1], e[3]) for e in events] == [
        ("opened", WARNING), ("escalated", ALARM), ("closed", NORMAL), ("opened", WARNING)]
    assert events[2][0] == 10 * 60.0  # closed at the first value below clear (84)


def test_noise_at_night_opens_and_closes():
    series = [(at(21.5), 66.0), (at(21.9), 64.0),     # day, below 67
              (at(22.1), 60.0),                       # night: above 55 → alarm
              (at(23.0), 53.0), (at(23.5), 51.0),     # between clear 50 and warning: still open
              (at(24.2), 49.0),                       # below 50 → closed
              (at(25.0), 48.0)]
    events = run(NOISE, series)
    assert events == [(at(22.1), "opened", "night", ALARM), (at(24.2), "closed", "", NORMAL)]


def test_noise_by_day_uses_the_day_limit():
    series = [(at(14.0), 66.0), (at(14.1), 68.0), (at(14.2), 71.0), (at(14.3), 66.0),
              (at(14.4), 64.9)]
    events = run(NOISE, series)
    assert [(e[1], e[3]) for e in events] == [("opened", WARNING), ("escalated", ALARM),
                                              ("closed", NORMAL)]
    # 06:00 ends the night: the night rule no longer holds an episode open at 60 dB(A).
    morning = run(NOISE, [(at(5.5), 58.0), (at(6.1), 60.0)])
    assert [(e[1], e[2]) for e in morning] == [("opened", "night"), ("closed", "")]


def test_dust_rolling_mean_counts_exceedances_per_day():
    # One reading a minute: 40 µg/m³, then 100 for 50 minutes, then 30.
    minutes = [(at(10) + 60 * i, 40.0) for i in range(30)]
    minutes += [(at(10.5) + 60 * i, 100.0) for i in range(50)]
    minutes += [(at(10.5) + 3000 + 60 * i, 30.0) for i in range(60)]
    rt = Runtime(compile_rules(PM10))
    events, means = [], []
    for t, v in minutes:
        events += [(e.ts, e.event, e.rule, e.level) for e in rt.feed(t, v)]
        means.append(rt.mean(900))
    # The rolling mean is the plain mean of the readings of the last 15 minutes.
    t_last = minutes[-1][0]
    expected = [v for t, v in minutes if t > t_last - 900]
    assert means[-1] == pytest.approx(sum(expected) / len(expected))
    kinds = [(e[1], e[2], e[3]) for e in events]
    # Warning as the mean passes 60; the first two 15-minute windows above 80 are allowed
    # exceedances (still warning); the third escalates; back below 50 closes.
    assert kinds == [("opened", "mean_15min", WARNING), ("escalated", "mean_15min", ALARM),
                     ("closed", "", NORMAL)]
    opened, escalated = events[0][0], events[1][0]
    assert escalated - opened > 15 * 60


def test_dust_allowance_resets_each_local_day():
    rules = {"m": {"type": "rolling_mean", "window_s": 900, "warning": 80, "alarm": 80,
                   "allowed_exceedances_per_day": 1, "clear": 50}}
    series = []
    for day in (0, 1):
        series += [(at(9, day) + 60 * i, 100.0) for i in range(10)]   # one window above 80
        series += [(at(11, day) + 60 * i, 10.0) for i in range(20)]
    events = run(rules, series)
    # Each day's single exceedance is within the allowance: warnings only, each closed.
    assert [(e[1], e[3]) for e in events] == [("opened", WARNING), ("closed", NORMAL)] * 2


def test_displacement_rate_on_consecutive_days():
    # Hourly readings: 0.5 mm/day for a day, then 3.5 mm/day for three days, then 0.2 mm/day.
    series, value = [], 2.0
    for hour in range(24 * 7):
        day = hour / 24
        rate = 0.5 if day < 1 else 3.5 if day < 4 else 0.2
        value += rate / 24
        series.append((at(hour), round(value, 3)))
    events = run({"rate": WALL["rate"]}, series)
    assert [(e[1], e[3]) for e in events] == [
        ("opened", WARNING), ("escalated", ALARM), ("closed", NORMAL)]
    opened, escalated, closed = (e[0] for e in events)
    # Warning once a day's change passes 2.4 mm (part-way into day 2), alarm only when two
    # consecutive days each passed 3 mm (day 3), closed when a day's change drops under 1.5 mm.
    assert at(24) < opened < at(48)
    assert at(48) + 12 * 3600 < escalated < at(72) + 12 * 3600
    assert at(96) < closed < at(120)


def test_cumulative_displacement():
    series = [(at(h), v) for h, v in enumerate([5, 20, 24.5, 28, 30.2, 29, 22, 20.9, 25])]
    events = run({"cumulative": WALL["cumulative"]}, series)
    assert [(e[1], e[3]) for e in events] == [
        ("opened", WARNING), ("escalated", ALARM), ("closed", NORMAL), ("opened", WARNING)]


def test_two_rules_of_one_sensor_are_one_episode():
    # Cumulative passes warning while the rate is high: still one alarm for the sensor.
    series, value = [], 20.0
    for hour in range(24 * 4):
        value += 3.6 / 24
        series.append((at(hour), value))
    events = run(WALL, series)
    assert [e[1] for e in events].count("opened") == 1
    assert {e[2] for e in events if e[1] != "closed"} <= {"rate", "cumulative"}


@pytest.mark.parametrize("rules, message", [
    ({"x": {"type": "threshold", "warning": 90, "alarm": 100, "clear": 95}}, "clear"),
    ({"x": {"type": "threshold", "warning": 110, "alarm": 100}}, "warning"),
    ({"x": {"type": "median", "alarm": 1}}, "unknown type"),
    ({"x": {"type": "rate", "alarm": 1, "days": 0}}, "days"),
    ({"x": {"type": "threshold", "alarm": "high"}}, "alarm"),
    ({"x": {"type": "threshold", "alarm": 1, "from": "25:00", "to": "06:00"}}, "hours"),
])
def test_bad_rules_are_refused(rules, message):
    with pytest.raises(RuleError, match=message):
        compile_rules(rules)


def test_percentage_rule_waits_for_its_design_value():
    assert compile_rules({"force": {"type": "threshold", "percent_of": None, "alarm": 70}}) == ()
    rules = compile_rules({"force": {"type": "threshold", "percent_of": 5000, "warning": 60,
                                     "alarm": 70, "clear": 55}})
    rt = Runtime(rules)
    assert [e.event for e in rt.feed(0, 3600)] == ["opened"]   # 72 % of 5000 kN
    assert rt.level == ALARM


def _reference(rules: dict, series: list[tuple[float, float]]):
    """Every reading through the full grading (no calm shortcut): events, level, rule state."""
    rt = Runtime(compile_rules(rules))
    events = []
    for t, v in series:
        rt._append(t, v)
        events += [(t, e.event, e.rule, e.level, e.value) for e in rt._judge(t, v)]
    return events, rt.level, rt.rule_state


@pytest.mark.parametrize("rules", [NOISE, PM10, WALL, {"load": {
    "type": "threshold", "percent_of": 200, "abs": True, "warning": 90, "alarm": 100,
    "clear": 85}}, {"settle": {
        "type": "cumulative", "baseline": 200, "warning": 40, "alarm": 60, "clear": 30}}],
    ids=["noise", "pm10", "wall", "percent-abs", "cumulative-around-baseline"])
def test_feed_and_feed_many_match_the_full_grading(rules):
    """feed_many checks a calm run of value-only rules (threshold, cumulative) by its lowest and
    highest value; a crossing anywhere inside a run must still come out where it is."""
    # Long calm stretches with episodes in between, over three days of 10-minute readings.
    rnd = random.Random(7)
    series, value = [], 10.0
    for k in range(3 * 144):
        episode = (k // 40) % 3 == 2
        value = max(0.0, value + rnd.uniform(-1, 1)) if not episode else rnd.uniform(40, 190)
        if "settle" in rules:       # calm near the baseline, episodes far below it
            value_k = 200 - value
        else:
            value_k = value if rules is not WALL else value / 5
        series.append((at(0) + 600 * k, round(value_k, 2)))
    expected, level, state = _reference(rules, series)
    assert any(e[1] == "opened" for e in expected), "the series should raise alarms"

    one = Runtime(compile_rules(rules))
    got = [(t, e.event, e.rule, e.level, e.value) for t, v in series for e in one.feed(t, v)]
    assert (got, one.level, one.rule_state) == (expected, level, state)

    many = Runtime(compile_rules(rules))
    got = []
    for start in range(0, len(series), 37):      # batches of uneven size
        chunk = series[start:start + 37]
        ts, values = [t for t, _ in chunk], [v for _, v in chunk]
        got += [(ts[i], e.event, e.rule, e.level, e.value)
                for i, e in many.feed_many(ts, values)]
    assert (got, many.level, many.rule_state) == (expected, level, state)
