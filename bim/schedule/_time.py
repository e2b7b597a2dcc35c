"""Dates, durations and working days as the schedule sources write them.

IFC4+ writes ``IfcDateTime`` text (``2010-09-20T08:00:00``) and ISO 8601 durations; IFC2X3 writes
``IfcDateAndTime`` / ``IfcCalendarDate`` entities and durations in seconds (``IfcTimeMeasure``).
Naive times are local times of the project, read in ``tz``.

Working durations.  ``ScheduleDuration`` with ``DurationType`` WORKTIME is ambiguous in practice:
the IFC specification's own example writes a 5-day task of 8-hour days as ``P0Y0M1DT16H0M0S``
(40 hours), while Bonsai writes ``P5D`` (5 working days).  The rule here: a duration with an hours,
minutes or seconds part is a number of working hours (a ``D`` counting 24 of them) divided by the
calendar's hours per day; a duration of whole days only is that many working days.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import ifcopenshell

from bim.schedule.types import Calendar, Task

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<y>\d+(?:[.,]\d+)?)Y)?(?:(?P<mo>\d+(?:[.,]\d+)?)M)?(?:(?P<w>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<d>\d+(?:[.,]\d+)?)D)?(?:T(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<mi>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?$"
)
DEFAULT_CALENDAR = Calendar(source_id=None, name=None, hours=(("08:00", "12:00"), ("13:00", "17:00")))
SEVEN_DAY = Calendar(source_id=None, name="elapsed", weekdays=(1, 2, 3, 4, 5, 6, 7),
                     hours=(("00:00", "24:00"),))


def _aware(value: datetime, tz: tzinfo) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=tz)


def parse_datetime(value, tz: tzinfo = DEFAULT_TZ) -> datetime | None:
    """An IFC date/time (text, IFC2X3 entity) → an aware datetime, or None when absent/invalid."""
    if value is None or value == "":
        return None
    if isinstance(value, ifcopenshell.entity_instance):
        return _parse_ifc2x3(value, tz)
    if isinstance(value, datetime):
        return _aware(value, tz)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=tz)
    if isinstance(value, int):  # IfcTimeStamp: seconds since 1970, UTC
        return datetime.fromtimestamp(value, tz)
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.min, tzinfo=tz)
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")), tz)
    except ValueError:
        return None


def _parse_ifc2x3(entity: ifcopenshell.entity_instance, tz: tzinfo) -> datetime | None:
    if entity.is_a("IfcDateAndTime"):
        d, t = entity.DateComponent, entity.TimeComponent
        day = date(d.YearComponent, d.MonthComponent, d.DayComponent)
        seconds = float(t.SecondComponent or 0)
        clock = time(t.HourComponent, t.MinuteComponent or 0, min(int(seconds), 59))
        zone = tz
        if getattr(t, "Zone", None) is not None:
            z = t.Zone
            offset = timedelta(hours=z.HourOffset, minutes=z.MinuteOffset or 0)
            zone = timezone(offset if z.Sense == "AHEAD" else -offset)
        return datetime.combine(day, clock, tzinfo=zone)
    if entity.is_a("IfcCalendarDate"):
        return datetime.combine(date(entity.YearComponent, entity.MonthComponent, entity.DayComponent),
                                time.min, tzinfo=tz)
    return None  # IfcLocalTime alone carries no day


def _num(text: str | None) -> float:
    return float(text.replace(",", ".")) if text else 0.0


def parse_duration(text: str | None) -> tuple[float, float] | None:
    """An ISO 8601 duration → (days, hours) where days counts Y/M/W/D and hours the time part.

    >>> parse_duration("P0Y0M1DT16H0M0S")
    (1.0, 16.0)
    >>> parse_duration("P5D")
    (5.0, 0.0)
    """
    if not text:
        return None
    m = _DURATION.match(text.strip())
    if not m or text.strip() in ("P", "PT"):
        return None
    days = _num(m["y"]) * 365 + _num(m["mo"]) * 30 + _num(m["w"]) * 7 + _num(m["d"])
    hours = _num(m["h"]) + _num(m["mi"]) / 60 + _num(m["s"]) / 3600
    sign = -1.0 if m["sign"] else 1.0
    return sign * days, sign * hours


def duration_days(text: str | None, *, duration_type: str | None = "WORKTIME",
                  hours_per_day: float = 8.0) -> float | None:
    """An IFC duration as days: working days for WORKTIME, calendar days for ELAPSEDTIME."""
    parsed = parse_duration(text)
    if parsed is None:
        return None
    days, hours = parsed
    if duration_type == "ELAPSEDTIME":
        return days + hours / 24
    if hours:
        return (days * 24 + hours) / hours_per_day
    return days


def seconds_to_days(seconds: float | None, *, hours_per_day: float = 8.0,
                    working: bool = True) -> float | None:
    """IFC2X3 ``IfcTimeMeasure`` (seconds) → working days (or elapsed days)."""
    if seconds is None:
        return None
    return seconds / 3600 / (hours_per_day if working else 24)


def _day_end(calendar: Calendar) -> time:
    last = calendar.hours[-1][1] if calendar.hours else "17:00"
    h, m = (int(x) for x in last.split(":")[:2])
    return time.max if h >= 24 else time(h, m)


def _day_start(calendar: Calendar) -> time:
    first = calendar.hours[0][0] if calendar.hours else "08:00"
    h, m = (int(x) for x in first.split(":")[:2])
    return time(h, m)


def _nth_working_day(day: date, days: float, calendar: Calendar, step: int) -> date | None:
    """The working day ``ceil(days)`` working days away, counting ``day`` itself; walks
    forwards (step 1) or backwards (step -1).  None for a calendar without working days."""
    remaining = max(1, math.ceil(days - 1e-9))
    for _ in range(20_000):
        if calendar.is_working_day(day):
            remaining -= 1
            if remaining == 0:
                return day
        day += timedelta(days=step)
    return None


def add_working_days(start: datetime, days: float, calendar: Calendar | None) -> datetime:
    """The finish of a task of ``days`` working days starting at ``start`` (the start day counts).

    A zero duration finishes when it starts (a milestone).  Without a calendar, days are elapsed.
    """
    if days <= 0:
        return start
    last = _nth_working_day(start.date(), days, calendar, 1) if calendar else None
    if last is None:
        return start + timedelta(days=days)
    return datetime.combine(last, _day_end(calendar), tzinfo=start.tzinfo)


def subtract_working_days(finish: datetime, days: float, calendar: Calendar | None) -> datetime:
    """The start of a task of ``days`` working days finishing at ``finish``."""
    if days <= 0:
        return finish
    first = _nth_working_day(finish.date(), days, calendar, -1) if calendar else None
    if first is None:
        return finish - timedelta(days=days)
    return datetime.combine(first, _day_start(calendar), tzinfo=finish.tzinfo)


def count_working_days(start: datetime, finish: datetime, calendar: Calendar | None) -> float:
    """Working days from ``start`` to ``finish`` (both days counted); elapsed without a calendar."""
    if finish <= start:
        return 0.0
    if calendar is None:
        return (finish - start).total_seconds() / 86400
    day, last, n = start.date(), finish.date(), 0
    while day <= last:
        n += calendar.is_working_day(day)
        day += timedelta(days=1)
    return float(n)


def resolve_dates(task: Task, *, starts: list[tuple[str, datetime | None]],
                  finishes: list[tuple[str, datetime | None]], days: float | None,
                  calendar: Calendar | None) -> None:
    """Fill ``task``'s planned dates from the first present candidate, else from the duration."""
    start_src, start = next(((s, d) for s, d in starts if d is not None), ("none", None))
    finish_src, finish = next(((s, d) for s, d in finishes if d is not None), ("none", None))
    if start is not None and finish is None and days is not None:
        finish, finish_src = add_working_days(start, days, calendar), "duration"
    elif finish is not None and start is None and days is not None:
        start, start_src = subtract_working_days(finish, days, calendar), "duration"
    elif start is not None and finish is None and task.is_milestone:
        finish, finish_src = start, start_src
    task.planned_start, task.planned_finish = start, finish
    task.date_source = start_src if start_src == finish_src else f"{start_src}+{finish_src}"
    if days is None and start is not None and finish is not None:
        days = count_working_days(start, finish, calendar)
    task.duration_days = days
