"""Tasks of an IFC file with their WBS parent and dates (IFC4/IFC4X3 and IFC2X3)."""

from __future__ import annotations

from datetime import tzinfo

import ifcopenshell

from bim.schedule import _ifc2x3
from bim.schedule._time import DEFAULT_CALENDAR, DEFAULT_TZ, duration_days, parse_datetime, resolve_dates
from bim.schedule.read_calendars import read_calendars
from bim.schedule.read_schedules import read_schedules
from bim.schedule.types import Calendar, Schedule, Task

__all__ = ["read_tasks"]

UNSCHEDULED = "unscheduled"


def read_tasks(ifc_file: ifcopenshell.file, *, schedules: list[Schedule] | None = None,
               tz: tzinfo = DEFAULT_TZ, warnings: list[str] | None = None) -> list[Task]:
    """Every ``IfcTask`` with its schedule, WBS parent (``IfcRelNests``), dates and duration.

    IFC4/IFC4X3 dates come from ``IfcTaskTime``: ``ScheduleStart``/``ScheduleFinish``, else
    ``EarlyStart``/``EarlyFinish``, else the other end and ``ScheduleDuration`` counted in the
    task's working calendar.  IFC2X3 dates come from the ``IfcScheduleTimeControl`` that an
    ``IfcRelAssignsTasks`` attaches to the task for each schedule, in the same order of preference;
    a task planned in two schedules (a plan and a baseline) gives one record per schedule, the
    second keyed ``GlobalId@schedule``.  A summary task without dates of its own spans its
    children (``date_source`` ``children``); a task with no date at all has ``date_source``
    ``none``.

    Parameters
    ----------
    ifc_file : ifcopenshell.file
    schedules : list of Schedule, optional
        From :func:`read_schedules` (read here when not given).
    tz : tzinfo
        Zone of the file's naive local times (default Asia/Shanghai).
    warnings : list of str, optional
        Receives a line per questionable task (finish before start, one date only).

    Returns
    -------
    list of Task
        Parents before children, otherwise in file order.
    """
    warnings = warnings if warnings is not None else []
    schedules = schedules if schedules is not None else read_schedules(ifc_file)
    if ifc_file.schema == "IFC2X3":
        tasks = _ifc2x3.read_tasks(ifc_file, schedules, tz=tz)
    else:
        tasks = _read_ifc4(ifc_file, schedules, tz)
    ordered = _parents_first(tasks, warnings)
    _check_dates(ordered, warnings)
    _span_children(ordered)
    return ordered


def _schedule_of_roots(ifc_file: ifcopenshell.file, schedules: list[Schedule]) -> dict[int, str]:
    keys = {s.key for s in schedules}
    root: dict[int, str] = {}
    for control in list(ifc_file.by_type("IfcWorkSchedule")) + list(ifc_file.by_type("IfcWorkPlan")):
        if control.GlobalId not in keys:
            continue
        for rel in control.Controls:
            for obj in rel.RelatedObjects:
                if obj.is_a("IfcTask"):
                    root.setdefault(obj.id(), control.GlobalId)
    return root


def _parent(task: ifcopenshell.entity_instance) -> ifcopenshell.entity_instance | None:
    for rel in getattr(task, "Nests", None) or ():
        if rel.RelatingObject.is_a("IfcTask"):
            return rel.RelatingObject
    return None


def _task_calendar(task: ifcopenshell.entity_instance, calendars: dict[str, Calendar]) -> Calendar | None:
    seen = set()
    node: ifcopenshell.entity_instance | None = task
    while node is not None and node.id() not in seen:
        seen.add(node.id())
        for rel in node.HasAssignments or ():
            if rel.is_a("IfcRelAssignsToControl") and rel.RelatingControl.is_a("IfcWorkCalendar"):
                return calendars.get(rel.RelatingControl.GlobalId)
        node = _parent(node)
    return None


def _read_ifc4(ifc_file: ifcopenshell.file, schedules: list[Schedule], tz: tzinfo) -> list[Task]:
    roots = _schedule_of_roots(ifc_file, schedules)
    by_key = {s.key: s for s in schedules}
    calendars = {c.source_id: c for c in read_calendars(ifc_file) if c.source_id}
    out = []
    for order, entity in enumerate(ifc_file.by_type("IfcTask")):
        parent = _parent(entity)
        schedule_key = _inherited_schedule(entity, roots)
        schedule = by_key.get(schedule_key)
        calendar = (_task_calendar(entity, calendars) or (schedule.calendar if schedule else None)
                    or DEFAULT_CALENDAR)
        task = Task(
            key=entity.GlobalId, schedule_key=schedule_key, source_id=entity.GlobalId,
            parent_key=parent.GlobalId if parent is not None else None,
            identification=entity.Identification, name=entity.Name,
            is_milestone=bool(entity.IsMilestone), order=order,
        )
        _apply_task_time(task, entity.TaskTime, calendar, tz)
        out.append(task)
    return out


def _inherited_schedule(entity: ifcopenshell.entity_instance, roots: dict[int, str]) -> str:
    seen = set()
    node: ifcopenshell.entity_instance | None = entity
    while node is not None and node.id() not in seen:
        seen.add(node.id())
        if node.id() in roots:
            return roots[node.id()]
        node = _parent(node)
    return UNSCHEDULED


def _apply_task_time(task: Task, time_: ifcopenshell.entity_instance | None, calendar: Calendar,
                     tz: tzinfo) -> None:
    if time_ is None:
        return
    working = (time_.DurationType or "WORKTIME") != "ELAPSEDTIME"
    days = duration_days(time_.ScheduleDuration, duration_type=time_.DurationType,
                         hours_per_day=calendar.hours_per_day)
    resolve_dates(task, starts=[("schedule", parse_datetime(time_.ScheduleStart, tz)),
                                ("early", parse_datetime(time_.EarlyStart, tz))],
                  finishes=[("schedule", parse_datetime(time_.ScheduleFinish, tz)),
                            ("early", parse_datetime(time_.EarlyFinish, tz))],
                  days=days, calendar=calendar if working else None)


def _check_dates(tasks: list[Task], warnings: list[str]) -> None:
    for t in tasks:
        label = _label(t)
        if t.planned_start and t.planned_finish and t.planned_finish < t.planned_start:
            warnings.append(f"task {label}: planned finish {t.planned_finish.isoformat()} is before "
                            f"its start {t.planned_start.isoformat()}; finish dropped")
            t.planned_finish = None
            t.date_source = t.date_source.split("+")[0] + "+none"
        elif (t.planned_start is None) != (t.planned_finish is None):
            warnings.append(f"task {label}: has only a {'start' if t.planned_start else 'finish'} date")
        if t.baseline_start and t.baseline_finish and t.baseline_finish < t.baseline_start:
            t.baseline_finish = None


def _label(task: Task) -> str:
    return repr(task.identification or task.name or task.key)


def _span_children(tasks: list[Task]) -> None:
    """Summary tasks: flag them, and date those without dates by their children (recursively)."""
    children: dict[str, list[Task]] = {}
    for t in tasks:
        if t.parent_key is not None:
            children.setdefault(t.parent_key, []).append(t)
    for t in tasks:
        t.is_summary = t.key in children

    done: set[str] = set()

    def visit(task: Task, path: frozenset[str]) -> None:
        if task.key in done or task.key in path:
            return
        kids = children.get(task.key, [])
        for kid in kids:
            visit(kid, path | {task.key})
        done.add(task.key)
        if kids and task.planned_start is None and task.planned_finish is None:
            starts = [k.planned_start for k in kids if k.planned_start]
            finishes = [k.planned_finish for k in kids if k.planned_finish]
            if starts or finishes:
                task.planned_start = min(starts) if starts else None
                task.planned_finish = max(finishes) if finishes else None
                task.date_source = "children"

    for t in tasks:
        visit(t, frozenset())


def _parents_first(tasks: list[Task], warnings: list[str]) -> list[Task]:
    """Order parents before children; a nesting cycle is cut (one of its tasks becomes a root)."""
    by_key = {t.key: t for t in tasks}
    for t in tasks:
        if t.parent_key is not None and t.parent_key not in by_key:
            t.parent_key = None
    settled: set[str] = set()
    for t in tasks:
        on_path: set[str] = set()
        node: Task | None = t
        while node is not None and node.key not in settled:
            if node.key in on_path:
                warnings.append(f"task {_label(node)}: nested in its own sub-task (IfcRelNests "
                                "cycle); made a root task")
                node.parent_key = None
                break
            on_path.add(node.key)
            node = by_key.get(node.parent_key) if node.parent_key else None
        settled |= on_path
    depth: dict[str, int] = {}
    for t in tasks:
        chain: list[Task] = []
        node = t
        while node is not None and node.key not in depth:
            chain.append(node)
            node = by_key.get(node.parent_key) if node.parent_key else None
        base = depth[node.key] if node is not None else -1
        for n in reversed(chain):
            base += 1
            depth[n.key] = base
    return sorted(tasks, key=lambda t: (depth[t.key], t.order))
