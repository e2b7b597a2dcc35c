"""Threshold rules: compile the effective rules JSON of a sensor and evaluate readings in order.

Every rule has a warning, an alarm and a clear level (``clear < warning <= alarm``).  A rule's
level rises as soon as its metric crosses warning or alarm and falls back to normal only when
the metric is below clear (hysteresis), so a value hovering around a limit is one episode.

Rule types (the JSON ``type``):

``threshold``
    the value itself (``abs``: its magnitude; ``percent_of``: as a percentage of that number),
    optionally only between local ``from`` and ``to`` hours (noise by day and at night); outside
    its hours a rule is normal.
``rolling_mean``
    the mean of the readings in the last ``window_s`` seconds.  With
    ``allowed_exceedances_per_day`` = k, each clock-aligned window whose mean is above alarm counts
    as one exceedance of the local day; the first k only warn, the (k+1)-th raises the alarm.
``cumulative``
    ``|value - baseline|`` (displacement and settlement are reported as change since baseline).
``rate``
    change per day: the reading at or before t - 1 day against the latest one, per day.  Warning
    when the latest day's rate is above warning; alarm only when each of the last ``days`` days is
    above alarm (e.g. 3 mm/day on 2 consecutive days).  It clears on the latest day's rate.

Everything here is pure Python over (epoch seconds, value) pairs: the engine feeds it readings,
the tests feed it crafted series.

Examples
--------
>>> rules = compile_rules({"level": {"type": "threshold", "warning": 90, "alarm": 100,
...                                  "clear": 85}})
>>> rt = Runtime(rules)
>>> [e.event for e in rt.feed(0, 95) + rt.feed(60, 101) + rt.feed(120, 88) + rt.feed(180, 80)]
['opened', 'escalated', 'closed']
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

NORMAL, WARNING, ALARM = 0, 1, 2
LEVELS = ("normal", "warning", "alarm")
DAY = 86400.0
_TZ_CACHE: dict[str, ZoneInfo] = {}


class RuleError(ValueError):
    """A rule that cannot be compiled (bad type, missing or inconsistent levels)."""


def _zone(name: str) -> ZoneInfo:
    tz = _TZ_CACHE.get(name)
    if tz is None:
        try:
            tz = _TZ_CACHE[name] = ZoneInfo(name)
        except Exception as exc:
            raise RuleError(f"unknown time zone {name!r}") from exc
    return tz


def _number(spec: dict, key: str, rule_id: str, *, positive: bool = False) -> float:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RuleError(f"rule {rule_id}: {key} must be a finite number")
    if positive and value <= 0:
        raise RuleError(f"rule {rule_id}: {key} must be positive")
    return float(value)


@dataclass
class Rule:
    id: str
    warning: float
    alarm: float
    clear: float
    history_s: float = 0.0
    # True when quiet() looks at the reading's value alone, through a metric that is monotone in
    # it or grows with its distance from a point: readings between the lowest and the highest
    # of a run are quiet when those two are (Runtime.feed_many checks a run with two calls).
    by_value: ClassVar[bool] = False

    def evaluate(self, rt: Runtime, t: float, value: float, st: dict) -> tuple[int, float | None]:
        """(level the latest reading shows, metric the clear level is compared with)."""
        raise NotImplementedError

    def quiet(self, rt: Runtime, t: float, value: float) -> bool:
        """True when, from the normal level, this reading leaves the rule normal and its state
        untouched (what :meth:`evaluate` would grade, without its bookkeeping); False when
        unsure."""
        return False

    def active(self, t: float) -> bool:
        return True

    def threshold_for(self, level: int) -> float:
        return self.alarm if level == ALARM else self.warning

    def _grade(self, metric: float) -> int:
        return ALARM if metric >= self.alarm else WARNING if metric >= self.warning else NORMAL


@dataclass
class Threshold(Rule):
    by_value: ClassVar[bool] = True
    use_abs: bool = False
    percent_of: float | None = None
    hours: tuple[time, time] | None = None
    tz: ZoneInfo | None = None

    def active(self, t: float) -> bool:
        if self.hours is None:
            return True
        local = datetime.fromtimestamp(t, self.tz).time()
        start, end = self.hours
        return start <= local < end if start <= end else (local >= start or local < end)

    def evaluate(self, rt: Runtime, t: float, value: float, st: dict) -> tuple[int, float | None]:
        metric = abs(value) if self.use_abs else value
        if self.percent_of:
            metric = 100.0 * metric / self.percent_of
        return self._grade(metric), metric

    def quiet(self, rt: Runtime, t: float, value: float) -> bool:
        # Below warning the rule is normal whether or not its hours are on.
        metric = abs(value) if self.use_abs else value
        if self.percent_of:
            metric = 100.0 * metric / self.percent_of
        return metric < self.warning


@dataclass
class RollingMean(Rule):
    window_s: float = 900.0
    allowed: int | None = None
    tz: ZoneInfo | None = None

    def evaluate(self, rt: Runtime, t: float, value: float, st: dict) -> tuple[int, float | None]:
        metric = rt.mean(self.window_s)
        if metric < self.alarm or self.allowed is None:
            return self._grade(metric), metric
        day = datetime.fromtimestamp(t, self.tz).date().isoformat()
        period = int(t // self.window_s)
        if st.get("day") != day:
            st.update(day=day, count=0, period=None)
        if st.get("period") != period:
            st["count"] = st.get("count", 0) + 1
            st["period"] = period
        return (ALARM if st["count"] > self.allowed else WARNING), metric

    def quiet(self, rt: Runtime, t: float, value: float) -> bool:
        return rt.mean(self.window_s) < self.warning   # exceedances count only at alarm


@dataclass
class Cumulative(Rule):
    by_value: ClassVar[bool] = True
    baseline: float = 0.0

    def evaluate(self, rt: Runtime, t: float, value: float, st: dict) -> tuple[int, float | None]:
        metric = abs(value - self.baseline)
        return self._grade(metric), metric

    def quiet(self, rt: Runtime, t: float, value: float) -> bool:
        return abs(value - self.baseline) < self.warning


@dataclass
class Rate(Rule):
    days: int = 2

    def evaluate(self, rt: Runtime, t: float, value: float, st: dict) -> tuple[int, float | None]:
        rates = []
        t_end, v_end = t, value
        for k in range(1, self.days + 1):
            start = rt.at_or_before(t - k * DAY)
            if start is None or start[0] >= t_end:
                break
            rates.append(abs(v_end - start[1]) / ((t_end - start[0]) / DAY))
            t_end, v_end = start
        if not rates:
            return NORMAL, None
        if len(rates) == self.days and min(rates) >= self.alarm:
            return ALARM, rates[0]
        return (WARNING if rates[0] >= self.warning else NORMAL), rates[0]

    def quiet(self, rt: Runtime, t: float, value: float) -> bool:
        # Warning needs the latest day's rate at warning; alarm needs every day's at alarm.
        start = rt.at_or_before(t - DAY)
        if start is None or start[0] >= t:
            return True
        return abs(value - start[1]) / ((t - start[0]) / DAY) < self.warning


def _levels(spec: dict, rule_id: str) -> dict[str, float]:
    warning = _number(spec, "warning", rule_id) if "warning" in spec else None
    alarm = _number(spec, "alarm", rule_id)
    warning = alarm if warning is None else warning
    clear = _number(spec, "clear", rule_id) if "clear" in spec else warning
    if warning > alarm:
        raise RuleError(f"rule {rule_id}: warning ({warning}) must not exceed alarm ({alarm})")
    if "clear" in spec and clear >= warning:
        raise RuleError(f"rule {rule_id}: clear ({clear}) must be below warning ({warning})")
    if "clear" not in spec:
        clear = warning - 1e-9  # no hysteresis band asked for: clear just below warning
    return {"warning": warning, "alarm": alarm, "clear": clear}


def _hhmm(text: Any, rule_id: str) -> time:
    try:
        return time.fromisoformat(str(text))
    except ValueError as exc:
        raise RuleError(f"rule {rule_id}: hours must be HH:MM, got {text!r}") from exc


def compile_rule(rule_id: str, spec: Any) -> Rule | None:
    """One rule from its JSON; None when it is switched off (``"enabled": false``) or, for a
    percentage rule, when ``percent_of`` is not set yet."""
    if not isinstance(spec, dict):
        raise RuleError(f"rule {rule_id}: must be an object")
    if spec.get("enabled", True) is False:
        return None
    kind = spec.get("type")
    tz = _zone(str(spec.get("timezone", "Asia/Shanghai")))
    if kind == "threshold":
        if "percent_of" in spec and spec["percent_of"] is None:
            return None
        hours = None
        if "from" in spec or "to" in spec:
            hours = (_hhmm(spec.get("from"), rule_id), _hhmm(spec.get("to"), rule_id))
        percent = _number(spec, "percent_of", rule_id, positive=True) if "percent_of" in spec \
            else None
        return Threshold(rule_id, **_levels(spec, rule_id), use_abs=bool(spec.get("abs")),
                         percent_of=percent, hours=hours, tz=tz)
    if kind == "rolling_mean":
        window = _number(spec, "window_s", rule_id, positive=True)
        allowed = spec.get("allowed_exceedances_per_day")
        if allowed is not None and (isinstance(allowed, bool) or not isinstance(allowed, int)
                                    or allowed < 0):
            raise RuleError(f"rule {rule_id}: allowed_exceedances_per_day must be an integer ≥ 0")
        return RollingMean(rule_id, **_levels(spec, rule_id), history_s=window, window_s=window,
                           allowed=allowed, tz=tz)
    if kind == "cumulative":
        baseline = _number(spec, "baseline", rule_id) if "baseline" in spec else 0.0
        return Cumulative(rule_id, **_levels(spec, rule_id), baseline=baseline)
    if kind == "rate":
        days = spec.get("days", 1)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 30:
            raise RuleError(f"rule {rule_id}: days must be an integer from 1 to 30")
        return Rate(rule_id, **_levels(spec, rule_id), history_s=(days + 1) * DAY, days=days)
    raise RuleError(f"rule {rule_id}: unknown type {kind!r} "
                    "(threshold, rolling_mean, cumulative, rate)")


def compile_rules(rules: dict) -> tuple[Rule, ...]:
    if not isinstance(rules, dict):
        raise RuleError("rules must be an object keyed by rule id")
    compiled = (compile_rule(rid, spec) for rid, spec in rules.items())
    return tuple(r for r in compiled if r is not None)


@dataclass(frozen=True)
class Event:
    event: str            # opened, escalated, closed
    level: int            # the sensor's level after the reading
    rule: str             # the rule that made the change
    ts: float             # epoch seconds of the reading
    value: float | None   # the rule's metric (the reading itself for threshold rules)
    threshold: float | None


@dataclass
class Runtime:
    """One sensor's recent readings and rule levels; fed readings in time order."""

    rules: tuple[Rule, ...]
    rule_state: dict[str, dict] = field(default_factory=dict)
    level: int = NORMAL
    ts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    head: int = 0
    _sums: dict[float, list] = field(default_factory=dict)   # window → [start index, sum]

    def __post_init__(self) -> None:
        known = {r.id for r in self.rules}
        # Rules removed since: forget their state (the next reading re-grades the sensor, and
        # closes its episode when no remaining rule holds it open).
        kept = {k: v for k, v in self.rule_state.items() if k in known}
        # True once level or rule_state may differ from what it was built with (or last stored).
        self.dirty = len(kept) != len(self.rule_state)
        self.rule_state = kept
        self.history_s = max((r.history_s for r in self.rules), default=0.0)
        for rule in self.rules:
            if isinstance(rule, RollingMean):
                self._sums.setdefault(rule.window_s, [self.head, 0.0])
        # Threshold and cumulative rules look at the reading alone: no series to keep.
        self._keep = self.history_s > 0 or bool(self._sums)
        self._by_value = not self._keep and all(rule.by_value for rule in self.rules)
        self._calm_now = self._calm()

    # -- the series ------------------------------------------------------------------------------

    def _append(self, t: float, value: float) -> None:
        if not self._keep:
            return
        self.ts.append(t)
        self.values.append(value)
        for window, acc in self._sums.items():
            acc[1] += value
            lo = acc[0]
            while self.ts[lo] <= t - window:
                acc[1] -= self.values[lo]
                lo += 1
            acc[0] = lo
        cutoff = t - self.history_s
        # Keep the last reading at or before the cutoff: a rate needs the value at t - N days.
        while self.head + 1 < len(self.ts) and self.ts[self.head + 1] <= cutoff:
            self.head += 1
        if self.head > 4096 and self.head * 2 > len(self.ts):
            self._compact()

    def _compact(self) -> None:
        cut = min([self.head] + [acc[0] for acc in self._sums.values()])
        del self.ts[:cut], self.values[:cut]
        self.head -= cut
        for acc in self._sums.values():
            acc[0] -= cut
            acc[1] = math.fsum(self.values[acc[0]:])  # also sheds accumulated rounding

    def mean(self, window: float) -> float:
        lo, total = self._sums[window]
        return total / (len(self.ts) - lo)

    def at_or_before(self, t: float) -> tuple[float, float] | None:
        i = bisect_right(self.ts, t, lo=self.head) - 1
        return (self.ts[i], self.values[i]) if i >= self.head else None

    def load_history(self, points: list[tuple[float, float]]) -> None:
        """Readings before the ones to evaluate (rebuilding after a restart), oldest first."""
        for t, v in points:
            self._append(t, v)

    # -- evaluation -------------------------------------------------------------------------------

    def rule_level(self, rule_id: str) -> int:
        return self.rule_state.get(rule_id, {}).get("level", NORMAL)

    def _calm(self) -> bool:
        """Every rule normal, with a state of its own (the shortcut of :meth:`feed` applies)."""
        states = self.rule_state
        return self.level == NORMAL and all(
            rule.id in states and states[rule.id].get("level", NORMAL) == NORMAL
            for rule in self.rules)

    def feed(self, t: float, value: float) -> list[Event]:
        """Evaluate one reading (newer than every reading fed before); the events it causes."""
        self._append(t, value)
        if self._calm_now:
            # The usual case: every rule normal and this reading keeps them so; nothing changes.
            for rule in self.rules:
                if not rule.quiet(self, t, value):
                    break
            else:
                return []
        return self._judge(t, value)

    def feed_many(self, ts: list[float], values: list[float]) -> list[tuple[int, Event]]:
        """:meth:`feed` for a run of readings in time order (each newer than the one before);
        the events, each with the index of the reading that caused it."""
        rules, append, keep = self.rules, self._append, self._keep
        if self._calm_now and self._by_value and values:
            # The usual case for threshold sensors: the whole run is quiet, and nothing is kept.
            low, high, t = min(values), max(values), ts[-1]
            if all(rule.quiet(self, t, low) and rule.quiet(self, t, high) for rule in rules):
                return []
        out: list[tuple[int, Event]] = []
        for i, t in enumerate(ts):
            value = values[i]
            if keep:
                append(t, value)
            if self._calm_now:
                for rule in rules:
                    if not rule.quiet(self, t, value):
                        break
                else:
                    continue
            for event in self._judge(t, value):
                out.append((i, event))
        return out

    def _judge(self, t: float, value: float) -> list[Event]:
        """Grade every rule on the reading just appended; the event it causes, if any."""
        self.dirty = True
        before = self.level
        level = NORMAL
        leader: tuple[int, Rule, float | None] | None = None
        states = self.rule_state
        for rule in self.rules:
            st = states.get(rule.id)
            if st is None:
                st = states[rule.id] = {}
            prev = st.get("level", NORMAL)
            if not rule.active(t):
                new, metric = NORMAL, None
            else:
                grade, metric = rule.evaluate(self, t, value, st)
                if grade > prev:
                    new = grade
                elif prev and metric is not None and metric < rule.clear:
                    new = NORMAL
                else:
                    new = prev
            st["level"] = new
            if new > level:
                level = new
            if new > prev and (leader is None or new > leader[0]):
                leader = (new, rule, metric)
        self.level = level
        self._calm_now = self._calm()
        if level > before and leader is not None:
            new, rule, metric = leader
            kind = "opened" if before == NORMAL else "escalated"
            return [Event(kind, level, rule.id, t, metric, rule.threshold_for(new))]
        if level == NORMAL and before > NORMAL:
            return [Event("closed", NORMAL, "", t, value, None)]
        return []
