"""Everything schedule-related in one IFC file, checked and with baselines merged."""

from __future__ import annotations

from datetime import tzinfo

import ifcopenshell

from bim.schedule._checks import check_schedule
from bim.schedule._time import DEFAULT_TZ
from bim.schedule.read_calendars import read_calendars
from bim.schedule.read_dependencies import read_dependencies
from bim.schedule.read_schedules import read_schedules
from bim.schedule.read_task_elements import read_task_elements
from bim.schedule.read_tasks import UNSCHEDULED, read_tasks
from bim.schedule.types import Schedule, ScheduleData, Task

__all__ = ["read_schedule_data"]


def read_schedule_data(ifc_file: ifcopenshell.file, *, tz: tzinfo = DEFAULT_TZ) -> ScheduleData:
    """Schedules, tasks, dependencies, task→element links and calendars of ``ifc_file``.

    A BASELINE schedule is not kept as a schedule of its own when a planned one exists: each of
    its tasks is matched to a planned task (by ``IfcRelDefinesByObject`` as
    ``ifcopenshell.api.sequence.create_baseline`` writes it, else the same task as in IFC2X3,
    else a unique ``Identification``/``TaskId``, else a unique name) whose ``baseline_start`` and
    ``baseline_finish`` then take the baseline's dates.  Tasks in no schedule are gathered in one
    schedule keyed ``unscheduled``.  Cycles and tasks without dates are reported in
    ``warnings`` and kept.

    Parameters
    ----------
    ifc_file : ifcopenshell.file
        IFC2X3, IFC4 or IFC4X3.
    tz : tzinfo
        Zone of the file's naive local times.

    Returns
    -------
    ScheduleData
    """
    data = ScheduleData()
    schedules = read_schedules(ifc_file)
    tasks = read_tasks(ifc_file, schedules=schedules, tz=tz, warnings=data.warnings)
    hours = next((s.calendar.hours_per_day for s in schedules if s.calendar), 8.0)
    dependencies = read_dependencies(ifc_file, hours_per_day=hours, warnings=data.warnings)
    schedules, tasks, merged = _merge_baselines(ifc_file, schedules, tasks, data.warnings)
    if any(t.schedule_key == UNSCHEDULED for t in tasks):
        purpose = "other" if schedules else "planned"
        if schedules:
            n = sum(t.schedule_key == UNSCHEDULED for t in tasks)
            data.warnings.append(f"{n} task(s) belong to no work schedule; gathered in one "
                                 "schedule named 'Tasks outside any work schedule'")
        schedules.append(Schedule(key=UNSCHEDULED, source="ifc", source_id=None,
                                  name="Tasks outside any work schedule", purpose=purpose))
    data.schedules = schedules
    data.tasks = tasks
    # The merged baseline copies' own links repeat the plan's: drop them quietly.
    data.dependencies = [d for d in dependencies
                         if d.predecessor_key not in merged and d.successor_key not in merged]
    data.task_elements = [te for te in read_task_elements(ifc_file) if te.task_key not in merged]
    data.calendars = read_calendars(ifc_file)
    check_schedule(data)
    return data


def _merge_baselines(ifc_file: ifcopenshell.file, schedules: list[Schedule], tasks: list[Task],
                     warnings: list[str]) -> tuple[list[Schedule], list[Task], set[str]]:
    planned_keys = {s.key for s in schedules if s.purpose == "planned"}
    baselines = [s for s in schedules if s.purpose == "baseline"]
    if not planned_keys or not baselines:
        return schedules, tasks, set()
    planned = [t for t in tasks if t.schedule_key in planned_keys]
    by_source = {t.source_id: t for t in planned}
    by_ident = _unique(planned, lambda t: t.identification)
    by_name = _unique(planned, lambda t: t.name)
    declared = _declared_by(ifc_file)
    baseline_keys = {s.key for s in baselines}
    kept, unmatched, merged = [], 0, set()
    for t in tasks:
        if t.schedule_key not in baseline_keys:
            kept.append(t)
            continue
        merged.add(t.key)
        target = (by_source.get(declared.get(t.source_id or ""))
                  or (by_source.get(t.source_id) if t.key != t.source_id else None)
                  or by_ident.get(t.identification) or by_name.get(t.name))
        if target is None:
            unmatched += 1
            continue
        target.baseline_start, target.baseline_finish = t.planned_start, t.planned_finish
    if unmatched:
        warnings.append(f"{unmatched} baseline task(s) match no planned task; their baseline dates "
                        "are not stored")
    return [s for s in schedules if s.key not in baseline_keys], kept, merged


def _unique(tasks: list[Task], key) -> dict:
    seen: dict = {}
    dup = set()
    for t in tasks:
        k = key(t)
        if k is None:
            continue
        if k in seen:
            dup.add(k)
        seen[k] = t
    return {k: v for k, v in seen.items() if k not in dup}


def _declared_by(ifc_file: ifcopenshell.file) -> dict[str, str]:
    """Baseline copy GlobalId → planned task GlobalId, from IfcRelDefinesByObject (IFC4+)."""
    if ifc_file.schema == "IFC2X3":
        return {}
    out = {}
    for rel in ifc_file.by_type("IfcRelDefinesByObject"):
        source = rel.RelatingObject
        if source is None or not source.is_a("IfcTask"):
            continue
        for obj in rel.RelatedObjects:
            if obj.is_a("IfcTask"):
                out[obj.GlobalId] = source.GlobalId
    return out
