"""MS Project XML (MSPDI) schedules: tasks, WBS, links, baseline dates, calendars, GlobalId fields."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, tzinfo
from os import PathLike
from typing import IO

from bim.schedule._checks import check_schedule
from bim.schedule._time import DEFAULT_TZ, parse_datetime
from bim.schedule.types import Calendar, Dependency, Schedule, ScheduleData, Task, TaskElement

__all__ = ["read_msproject"]

_KIND = {"0": "FF", "1": "FS", "2": "SF", "3": "SS"}
_ELAPSED_LAG = {4, 6, 8, 10, 12, 36, 38, 40, 42, 44}   # em, eh, ed, ew, emo (and estimated)
_PERCENT_LAG = {19, 20, 51, 52}
GUID_FIELDS = ("globalid", "globalids", "global_id", "ifcguid", "ifc guid", "ifc globalid",
               "ifc_guid", "guid", "guids")
GUID = re.compile(r"^[0-9A-Za-z_$]{22}$")
_SPLIT = re.compile(r"[\s;,|]+")


def read_msproject(source: str | PathLike | IO[bytes], *, guid_field: str | None = None,
                   tz: tzinfo = DEFAULT_TZ) -> ScheduleData:
    """Read an MSPDI file (MS Project "XML format", also written by Primavera, Synchro, GanttProject).

    Tasks keep their ``UID`` as key and source id; the identification is the ``WBS`` code, else
    the ``ID``.  The WBS parent is the nearest earlier task one ``OutlineLevel`` up; the project
    summary task (``UID`` 0, outline level 0), null tasks and label rows (a hidden bar, no
    duration, not a milestone or summary, no predecessor: headings and blank lines typed as tasks) are
    left out, the label rows counted in a warning.  ``Start``/``Finish``
    are the planned dates, ``Baseline`` number 0 the baseline.  ``PredecessorLink`` types are
    0 FF, 1 FS, 2 SF, 3 SS; ``LinkLag`` is in tenths of a minute, turned into working days with
    the project's ``MinutesPerDay`` (or elapsed days for the elapsed ``LagFormat`` codes).

    GlobalIds held in a task field become task→element links: ``guid_field`` names the custom
    field (its ``FieldName`` such as ``Text1``, its alias, or its ``FieldID``); without it a field
    whose alias or name is GlobalId, IfcGUID, GUID (and similar) is used when there is one.  A
    value may hold several GlobalIds separated by spaces, commas, semicolons or bars.

    Parameters
    ----------
    source : path or binary file object
    guid_field : str, optional
    tz : tzinfo
        Zone of the file's local times.

    Returns
    -------
    ScheduleData
        One schedule (purpose ``planned``) with its calendar; cycles and tasks without dates are
        in ``warnings``.
    """
    try:
        root = ET.parse(source).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"not an XML file: {exc}") from exc
    if root.tag.rsplit("}", 1)[-1] != "Project":
        raise ValueError(f"not an MS Project XML file: the root element is {root.tag!r}")
    ns = {"p": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {"p": ""}
    q = (lambda path: "/".join(f"p:{part}" for part in path.split("/"))) if ns["p"] else (lambda p: p)

    def text(node: ET.Element, path: str) -> str | None:
        value = node.findtext(q(path), namespaces=ns)
        return value.strip() if value is not None and value.strip() != "" else None

    data = ScheduleData()
    minutes_per_day = float(text(root, "MinutesPerDay") or 480)
    calendars = {text(c, "UID"): _calendar(c, text, q, ns) for c in root.findall(q("Calendars/Calendar"), ns)}
    data.calendars = list(calendars.values())
    project_calendar = calendars.get(text(root, "CalendarUID") or "")
    name = text(root, "Title") or text(root, "Name")
    schedule = Schedule(key="msproject", source="msproject", source_id=text(root, "GUID") or name,
                        name=name, purpose="planned", calendar=project_calendar)
    data.schedules.append(schedule)
    guid_ids = _guid_field_ids(root, text, q, ns, guid_field)
    if guid_field and not guid_ids:
        data.warnings.append(f"no custom field named {guid_field!r} in the project; no task is "
                             "linked by field")

    stack: list[tuple[int, str]] = []   # (outline level, key) of the open ancestors
    durations: dict[str, float] = {}
    links: list[tuple[str, ET.Element]] = []
    labels: set[str] = set()
    for order, node in enumerate(root.findall(q("Tasks/Task"), ns)):
        uid = text(node, "UID")
        level = int(text(node, "OutlineLevel") or 1)
        if uid is None or text(node, "IsNull") == "1" or level == 0 or uid == "0":
            continue
        if _label_row(node, text, q, ns):
            labels.add(uid)
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        task = Task(
            key=uid, schedule_key=schedule.key, source_id=uid,
            parent_key=stack[-1][1] if stack else None,
            identification=text(node, "WBS") or text(node, "ID"), name=text(node, "Name"),
            is_milestone=text(node, "Milestone") == "1", is_summary=text(node, "Summary") == "1",
            planned_start=parse_datetime(text(node, "Start"), tz),
            planned_finish=parse_datetime(text(node, "Finish"), tz), order=order,
        )
        if task.planned_start or task.planned_finish:
            task.date_source = "msproject"
        hours = _hours(text(node, "Duration"))
        if hours is not None:
            task.duration_days = hours * 60 / minutes_per_day
            durations[uid] = task.duration_days
        for baseline in node.findall(q("Baseline"), ns):
            if (text(baseline, "Number") or "0") == "0":
                task.baseline_start = parse_datetime(text(baseline, "Start"), tz)
                task.baseline_finish = parse_datetime(text(baseline, "Finish"), tz)
        for attr in node.findall(q("ExtendedAttribute"), ns):
            if text(attr, "FieldID") in guid_ids:
                for token in _SPLIT.split(text(attr, "Value") or ""):
                    if GUID.match(token):
                        data.task_elements.append(TaskElement(uid, token, "output"))
        links += [(uid, link) for link in node.findall(q("PredecessorLink"), ns)]
        data.tasks.append(task)
        stack.append((level, uid))

    if labels:
        data.warnings.append(f"{len(labels)} label row(s) left out (hidden bar, no duration, no "
                             "links: headings or blank lines typed as tasks)")
    for uid, link in links:
        pred = text(link, "PredecessorUID")
        if pred is None or pred in labels:
            continue
        kind = _KIND.get(text(link, "Type") or "1", "FS")
        lag_raw = float(text(link, "LinkLag") or 0)
        lag_format = int(text(link, "LagFormat") or 7)
        if lag_format in _PERCENT_LAG:
            if lag_raw:
                data.warnings.append(f"link {pred} → {uid}: a percentage lag is not converted; "
                                     "stored as 0 days")
            lag = 0.0
        elif lag_format in _ELAPSED_LAG:
            lag = lag_raw / 10 / 1440
        else:
            lag = lag_raw / 10 / minutes_per_day
        data.dependencies.append(Dependency(pred, uid, kind, lag))
    _summary_flags(data.tasks)
    check_schedule(data)
    return data


def _label_row(node: ET.Element, text, q, ns) -> bool:
    """A heading or blank line typed as a task: no bar, no duration, no predecessor."""
    hours = _hours(text(node, "Duration"))
    return (text(node, "HideBar") == "1" and (hours is None or hours == 0)
            and text(node, "Milestone") != "1" and text(node, "Summary") != "1"
            and node.find(q("PredecessorLink"), ns) is None)


def _hours(value: str | None) -> float | None:
    """An MSPDI duration (``PT16H0M0S``) in hours."""
    if not value:
        return None
    m = re.match(r"^-?P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?"
                 r"(?:(\d+(?:\.\d+)?)S)?)?$", value)
    if not m:
        return None
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return d * 24 + h + mi / 60 + s / 3600


def _summary_flags(tasks: list[Task]) -> None:
    parents = {t.parent_key for t in tasks if t.parent_key}
    for t in tasks:
        t.is_summary = t.is_summary or t.key in parents


def _guid_field_ids(root, text, q, ns, wanted: str | None) -> set[str]:
    ids = set()
    for attr in root.findall(q("ExtendedAttributes/ExtendedAttribute"), ns):
        names = {(text(attr, "FieldName") or "").casefold(), (text(attr, "Alias") or "").casefold(),
                 text(attr, "FieldID") or ""}
        field_id = text(attr, "FieldID")
        if field_id is None:
            continue
        if wanted is not None:
            if wanted.casefold() in names or wanted in names:
                ids.add(field_id)
        elif names & set(GUID_FIELDS):
            ids.add(field_id)
    return ids


def _day(value: str | None) -> date | None:
    parsed = parse_datetime(value) if value else None
    return parsed.date() if parsed else None


def _calendar(node: ET.Element, text, q, ns) -> Calendar:
    weekdays: set[int] = set()
    hours: list[tuple[str, str]] = []
    exceptions: list[tuple[date, date, bool]] = []
    for day in node.findall(q("WeekDays/WeekDay"), ns):
        day_type = int(text(day, "DayType") or 0)
        working = text(day, "DayWorking") == "1"
        if day_type == 0:
            first, last = _day(text(day, "TimePeriod/FromDate")), _day(text(day, "TimePeriod/ToDate"))
            if first and last:
                exceptions.append((first, last, working))
            continue
        if working:
            weekdays.add(7 if day_type == 1 else day_type - 1)  # MSPDI: 1 = Sunday
            for wt in day.findall(q("WorkingTimes/WorkingTime"), ns):
                slot = ((text(wt, "FromTime") or "")[:5], (text(wt, "ToTime") or "")[:5])
                if all(slot) and slot not in hours:
                    hours.append(slot)
    for exc in node.findall(q("Exceptions/Exception"), ns):
        first, last = _day(text(exc, "TimePeriod/FromDate")), _day(text(exc, "TimePeriod/ToDate"))
        if first and last:
            exceptions.append((first, last, text(exc, "DayWorking") == "1"))
    hours.sort()
    return Calendar(source_id=text(node, "UID"), name=text(node, "Name"),
                    weekdays=tuple(sorted(weekdays)) or (1, 2, 3, 4, 5),
                    hours=tuple(hours) or (("08:00", "17:00"),), exceptions=tuple(exceptions))
