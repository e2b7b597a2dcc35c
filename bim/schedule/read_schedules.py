"""Work schedules of an IFC file (``IfcWorkSchedule``, or an ``IfcWorkPlan`` that controls tasks)."""

from __future__ import annotations

import ifcopenshell

from bim.schedule.read_calendars import read_calendars
from bim.schedule.types import Calendar, Schedule

__all__ = ["read_schedules"]

_PURPOSE = {"PLANNED": "planned", "BASELINE": "baseline", "ACTUAL": "actual",
            "NOTDEFINED": "planned", None: "planned"}


def read_schedules(ifc_file: ifcopenshell.file) -> list[Schedule]:
    """Every work schedule, with its purpose, work plan and calendar.

    ``PredefinedType`` (IFC4+) or ``WorkControlType`` (IFC2X3) gives the purpose: PLANNED →
    ``planned``, BASELINE → ``baseline``, ACTUAL → ``actual``, USERDEFINED → ``other``; a schedule
    that does not say (NOTDEFINED or unset, as many exporters leave it) is taken as the plan.
    An ``IfcWorkPlan`` that controls tasks directly counts as a schedule too.

    The calendar is the ``IfcWorkCalendar`` assigned to one of the schedule's root tasks, else one
    in the same work plan, else the file's only calendar.

    Parameters
    ----------
    ifc_file : ifcopenshell.file
        IFC2X3, IFC4 or IFC4X3.

    Returns
    -------
    list of Schedule
        In file order; ``key`` is the GlobalId.
    """
    calendars = {c.source_id: c for c in read_calendars(ifc_file)}
    only = next(iter(calendars.values())) if len(calendars) == 1 else None
    out = []
    controls = list(ifc_file.by_type("IfcWorkSchedule"))
    controls += [p for p in ifc_file.by_type("IfcWorkPlan") if _controls_tasks(p)]
    for control in controls:
        kind = (control.PredefinedType if ifc_file.schema != "IFC2X3" else control.WorkControlType)
        purpose = _PURPOSE.get(kind, "other")
        plan = _work_plan(control)
        calendar = _root_task_calendar(control, calendars) or _plan_calendar(plan, calendars) or only
        out.append(Schedule(
            key=control.GlobalId, source="ifc", source_id=control.GlobalId,
            name=control.Name or (plan.Name if plan is not None else None), purpose=purpose,
            work_plan=plan.Name if plan is not None else None, calendar=calendar,
        ))
    return out


def _controls_tasks(control: ifcopenshell.entity_instance) -> bool:
    return any(o.is_a("IfcTask") for rel in control.Controls for o in rel.RelatedObjects)


def _work_plan(control: ifcopenshell.entity_instance) -> ifcopenshell.entity_instance | None:
    if control.is_a("IfcWorkPlan"):
        return None
    rels = list(getattr(control, "Decomposes", None) or ()) + list(getattr(control, "Nests", None) or ())
    for rel in rels:
        if rel.RelatingObject.is_a("IfcWorkPlan"):
            return rel.RelatingObject
    return None


def _root_task_calendar(control: ifcopenshell.entity_instance,
                        calendars: dict[str | None, Calendar]) -> Calendar | None:
    for rel in control.Controls:
        for task in rel.RelatedObjects:
            if not task.is_a("IfcTask"):
                continue
            for assignment in task.HasAssignments or ():
                if (assignment.is_a("IfcRelAssignsToControl")
                        and assignment.RelatingControl.is_a("IfcWorkCalendar")):
                    return calendars.get(assignment.RelatingControl.GlobalId)
    return None


def _plan_calendar(plan: ifcopenshell.entity_instance | None,
                   calendars: dict[str | None, Calendar]) -> Calendar | None:
    if plan is None:
        return None
    rels = list(getattr(plan, "IsDecomposedBy", None) or ()) + list(getattr(plan, "IsNestedBy", None) or ())
    for rel in rels:
        for obj in rel.RelatedObjects:
            if obj.is_a("IfcWorkCalendar"):
                return calendars.get(obj.GlobalId)
    return None
