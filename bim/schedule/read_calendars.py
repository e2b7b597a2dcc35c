"""Work calendars (IFC4/IFC4X3 ``IfcWorkCalendar``); IFC2X3 has none."""

from __future__ import annotations

from datetime import date

import ifcopenshell

from bim.schedule._time import parse_datetime
from bim.schedule.types import Calendar

__all__ = ["read_calendars"]

_ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)


def read_calendars(ifc_file: ifcopenshell.file) -> list[Calendar]:
    """Each ``IfcWorkCalendar`` as a :class:`Calendar`, in file order.

    Weekly ``WorkingTimes`` give the working weekdays (IFC numbers them 1 = Monday, as ISO does)
    and hours (``IfcTimePeriod``); a daily pattern makes every day a working day.
    ``ExceptionTimes`` with a date range (``Start``/``Finish``, in IFC4X3 ``StartDate``/
    ``FinishDate``) become non-working exceptions, working times with a range working ones.

    Parameters
    ----------
    ifc_file : ifcopenshell.file
        Any schema; IFC2X3 files give an empty list.

    Returns
    -------
    list of Calendar
    """
    if ifc_file.schema == "IFC2X3":
        return []
    return [_calendar(c) for c in ifc_file.by_type("IfcWorkCalendar")]


def _range(work_time: ifcopenshell.entity_instance) -> tuple[date, date] | None:
    start = getattr(work_time, "StartDate", None) or getattr(work_time, "Start", None)
    finish = getattr(work_time, "FinishDate", None) or getattr(work_time, "Finish", None)
    a, b = parse_datetime(start), parse_datetime(finish)
    if a is None and b is None:
        return None
    a = a or b
    b = b or a
    assert a is not None and b is not None
    return a.date(), b.date()


def _calendar(entity: ifcopenshell.entity_instance) -> Calendar:
    weekdays: set[int] = set()
    hours: list[tuple[str, str]] = []
    exceptions: list[tuple[date, date, bool]] = []
    for work_time in entity.WorkingTimes or ():
        pattern = work_time.RecurrencePattern
        if pattern is None:
            span = _range(work_time)
            if span:
                exceptions.append((span[0], span[1], True))
            continue
        if pattern.RecurrenceType == "DAILY":
            weekdays.update(_ALL_DAYS)
        elif pattern.RecurrenceType == "WEEKLY":
            weekdays.update(d for d in (pattern.WeekdayComponent or ()) if 1 <= d <= 7)
        for period in pattern.TimePeriods or ():
            slot = (str(period.StartTime)[:5], str(period.EndTime)[:5])
            if slot not in hours:
                hours.append(slot)
    for work_time in entity.ExceptionTimes or ():
        span = _range(work_time)
        if span:
            exceptions.append((span[0], span[1], False))
    hours.sort()
    return Calendar(
        source_id=entity.GlobalId,
        name=entity.Name,
        weekdays=tuple(sorted(weekdays)) or (1, 2, 3, 4, 5),
        hours=tuple(hours) or (("08:00", "17:00"),),
        exceptions=tuple(exceptions),
    )
