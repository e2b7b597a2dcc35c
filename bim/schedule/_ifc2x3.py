"""IFC2X3 tasks: ``IfcTask.TaskId`` and ``IfcScheduleTimeControl`` through ``IfcRelAssignsTasks``.

ifcopenshell's sequence API and utilities read only IFC4's ``IfcTaskTime``; this is the IFC2X3
reader.  In IFC2X3 a task's times belong to the assignment, not the task: one
``IfcRelAssignsTasks`` (RelatingControl = a work schedule, TimeForTask = the time control) per
schedule the task is in, so a plan and its baseline share the task and differ in times.
Durations are ``IfcTimeMeasure`` seconds of working time.
"""

from __future__ import annotations

from datetime import tzinfo

import ifcopenshell

from bim.schedule._time import DEFAULT_CALENDAR, parse_datetime, resolve_dates, seconds_to_days
from bim.schedule.types import Schedule, Task

UNSCHEDULED = "unscheduled"


def _assignments(task: ifcopenshell.entity_instance) -> list[tuple[str, ifcopenshell.entity_instance | None]]:
    """(schedule GlobalId, time control or None) for each control assignment of ``task``."""
    out = []
    for rel in task.HasAssignments or ():
        if not rel.is_a("IfcRelAssignsToControl"):
            continue
        control = rel.RelatingControl
        if not (control.is_a("IfcWorkSchedule") or control.is_a("IfcWorkPlan")):
            continue
        time_ = rel.TimeForTask if rel.is_a("IfcRelAssignsTasks") else None
        out.append((control.GlobalId, time_))
    return out


def _parent(task: ifcopenshell.entity_instance) -> ifcopenshell.entity_instance | None:
    for rel in task.Decomposes or ():  # IfcRelNests is an IfcRelDecomposes in IFC2X3
        if rel.is_a("IfcRelNests") and rel.RelatingObject.is_a("IfcTask"):
            return rel.RelatingObject
    return None


def read_tasks(ifc_file: ifcopenshell.file, schedules: list[Schedule], *, tz: tzinfo) -> list[Task]:
    purpose = {s.key: s.purpose for s in schedules}
    entities = list(ifc_file.by_type("IfcTask"))
    # Which schedules each task is in, with its time control there (inherited from parents).
    direct = {e.id(): [(k, t) for k, t in _assignments(e) if k in purpose] for e in entities}
    member: dict[int, list[tuple[str, ifcopenshell.entity_instance | None]]] = {}

    def schedules_of(entity: ifcopenshell.entity_instance, seen: frozenset[int] = frozenset()):
        if entity.id() in member:
            return member[entity.id()]
        own = direct.get(entity.id(), [])
        parent = _parent(entity)
        if not own and parent is not None and parent.id() not in seen:
            own = [(k, None) for k, _ in schedules_of(parent, seen | {entity.id()})]
        member[entity.id()] = own or [(UNSCHEDULED, None)]
        return member[entity.id()]

    def primary(entity: ifcopenshell.entity_instance) -> str:
        keys = [k for k, _ in schedules_of(entity)]
        return next((k for k in keys if purpose.get(k) == "planned"), keys[0])

    def key_of(entity: ifcopenshell.entity_instance, schedule_key: str) -> str:
        return entity.GlobalId if schedule_key == primary(entity) else f"{entity.GlobalId}@{schedule_key}"

    out: list[Task] = []
    for order, entity in enumerate(entities):
        parent = _parent(entity)
        for schedule_key, time_ in schedules_of(entity):
            parent_key = None
            if parent is not None:
                in_same = schedule_key in [k for k, _ in schedules_of(parent)]
                parent_key = key_of(parent, schedule_key if in_same else primary(parent))
            task = Task(
                key=key_of(entity, schedule_key), schedule_key=schedule_key,
                source_id=entity.GlobalId, parent_key=parent_key,
                identification=entity.TaskId, name=entity.Name,
                is_milestone=bool(entity.IsMilestone), order=order,
            )
            if time_ is not None:
                _apply_time_control(task, time_, tz)
            out.append(task)
    return out


def _apply_time_control(task: Task, control: ifcopenshell.entity_instance, tz: tzinfo) -> None:
    hours = DEFAULT_CALENDAR.hours_per_day
    days = seconds_to_days(control.ScheduleDuration, hours_per_day=hours)
    resolve_dates(task,
                  starts=[("schedule", parse_datetime(control.ScheduleStart, tz)),
                          ("early", parse_datetime(control.EarlyStart, tz))],
                  finishes=[("schedule", parse_datetime(control.ScheduleFinish, tz)),
                            ("early", parse_datetime(control.EarlyFinish, tz))],
                  days=days, calendar=DEFAULT_CALENDAR)
