"""The 4D schedule of the sample residential building, and its IFC4 / IFC2X3 authoring.

``make_plan`` is plain scheduling arithmetic (forward pass over working days, FS/SS/FF links with
lags, summary tasks spanning their children); the writers put the result into a model:
IFC4 through ``ifcopenshell.api.sequence`` (work plan, work schedule, nested tasks, IfcTaskTime,
IfcRelSequence with IfcLagTime, a work calendar, a BASELINE copy made with ``create_baseline``),
IFC2X3 with ``create_entity`` (IfcScheduleTimeControl through IfcRelAssignsTasks, one per task and
schedule), which the sequence API does not write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import ifcopenshell
import ifcopenshell.api.control
import ifcopenshell.api.sequence

WEEKDAYS = (1, 2, 3, 4, 5, 6)                       # Monday to Saturday, as Chinese sites work
HOURS = (("08:00", "12:00"), ("13:00", "17:00"))
HOLIDAYS = (                                         # Spring Festival site closures (春节停工)
    (date(2023, 1, 18), date(2023, 1, 31)), (date(2024, 2, 6), date(2024, 2, 20)),
    (date(2025, 1, 25), date(2025, 2, 8)),
)
CREATED = "2022-09-01T09:00:00"


@dataclass
class PlanTask:
    ident: str
    name: str
    parent: str | None = None
    days: int = 0                                    # working days; 0 for a milestone or summary
    milestone: bool = False
    outputs: tuple[str, ...] = ()                    # element groups it builds
    inputs: tuple[str, ...] = ()                     # element groups it works on
    start: datetime | None = None
    finish: datetime | None = None


@dataclass
class Plan:
    tasks: list[PlanTask]
    links: list[tuple[str, str, str, int]]           # predecessor, successor, FS/SS/FF, lag days
    fitout_days: int
    by_ident: dict[str, PlanTask] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_ident = {t.ident: t for t in self.tasks}


def is_working(day: date) -> bool:
    return day.isoweekday() in WEEKDAYS and not any(a <= day <= b for a, b in HOLIDAYS)


def _tasks(storeys: int) -> tuple[list[PlanTask], list[tuple[str, str, str, int]]]:
    t = [PlanTask("M0", "开工 Start of works", milestone=True),
         PlanTask("1", "基础工程 Foundations"),
         PlanTask("1.1", "独立基础 Pad footings", "1", 20, outputs=("footings",)),
         PlanTask("1.2", "首层地坪 Ground slab", "1", 10, outputs=("ground_slab",)),
         PlanTask("2", "主体结构 Main structure")]
    links = [("M0", "1.1", "FS", 0), ("1.1", "1.2", "FS", 0), ("1.2", "2.1.1", "FS", 3)]
    for k in range(1, storeys + 1):
        t += [PlanTask(f"2.{k}", f"{k}层结构 Storey {k} structure", "2"),
              PlanTask(f"2.{k}.1", f"{k}层柱 Storey {k} columns", f"2.{k}", 6, outputs=(f"columns_{k}",)),
              PlanTask(f"2.{k}.2", f"{k}层梁 Storey {k} beams", f"2.{k}", 6, outputs=(f"beams_{k}",)),
              PlanTask(f"2.{k}.3", f"{k}层顶板 Storey {k} slab", f"2.{k}", 8, outputs=(f"slab_{k}",))]
        links += [(f"2.{k}.1", f"2.{k}.2", "SS", 2), (f"2.{k}.2", f"2.{k}.3", "FS", 0)]
        if k < storeys:
            links.append((f"2.{k}.3", f"2.{k + 1}.1", "FS", 3))   # curing before the next lift
    t += [PlanTask("M1", "主体结构封顶 Topping out", milestone=True),
          PlanTask("3", "砌体工程 Masonry walls")]
    links.append((f"2.{storeys}.3", "M1", "FS", 0))
    for k in range(1, storeys + 1):
        t.append(PlanTask(f"3.{k}", f"{k}层砌体 Storey {k} walls", "3", 15, outputs=(f"walls_{k}",)))
        links.append((f"2.{k}.3", f"3.{k}", "FS", 5))
        if k > 1:
            links.append((f"3.{k - 1}", f"3.{k}", "SS", 5))
    t += [PlanTask("4", "装饰装修 Finishes"),
          PlanTask("4.1", "装饰装修及机电安装 Fit-out and MEP", "4", 0,
                   inputs=tuple(f"walls_{k}" for k in range(1, storeys + 1))),
          PlanTask("M2", "竣工验收 Completion acceptance", milestone=True)]
    links += [("M1", "4.1", "FS", 10), (f"3.{storeys}", "4.1", "FF", 20), ("4.1", "M2", "FS", 0)]
    return t, links


def make_plan(start: date, target_finish: date, storeys: int, *, delays: dict[str, int] | None = None,
              fitout_days: int | None = None) -> Plan:
    """Forward-schedule the tasks from ``start``; the finishes are sized to end on ``target_finish``.

    ``delays`` adds working days to named tasks (a re-plan against the baseline);
    ``fitout_days`` fixes the finishes' duration (else it is sized so that M2 is on target).
    """
    tasks, links = _tasks(storeys)
    days = [d for d in (start + timedelta(n) for n in range(4000)) if is_working(d)]
    index = {d: i for i, d in enumerate(days)}
    target = index[max(d for d in days if d <= target_finish)]
    by = {t.ident: t for t in tasks}
    for ident, extra in (delays or {}).items():
        by[ident].days += extra
    preds: dict[str, list[tuple[str, str, int]]] = {}
    for a, b, kind, lag in links:
        preds.setdefault(b, []).append((a, kind, lag))
    span: dict[str, tuple[int, int]] = {}            # working-day index of first and last day

    def place(ident: str) -> tuple[int, int]:
        if ident in span:
            return span[ident]
        task = by[ident]
        s = 0
        for a, kind, lag in preds.get(ident, []):
            a0, a1 = place(a)
            a_milestone = by[a].milestone
            if kind == "FS":  # a milestone takes no day: it and its successor share the day
                s = max(s, a1 + lag + (0 if a_milestone or task.milestone else 1))
            elif kind == "SS":
                s = max(s, a0 + lag)
        d = task.days
        if ident == "4.1":
            d = fitout_days if fitout_days is not None else max(20, target - s + 1)
            task.days = d
        for a, kind, lag in preds.get(ident, []):
            if kind == "FF":
                s = max(s, place(a)[1] + lag - d + 1)
        span[ident] = (s, s) if task.milestone else (s, s + d - 1)
        return span[ident]

    for t in tasks:
        if t.days or t.milestone or t.ident == "4.1":
            place(t.ident)
    for t in tasks:
        if t.ident in span:
            s, f = span[t.ident]
            first = t.milestone and not preds.get(t.ident)
            t.start = datetime.combine(days[s], time(8) if first or not t.milestone else time(17))
            t.finish = t.start if t.milestone else datetime.combine(days[f], time(17))
    for t in reversed(tasks):                          # summaries span their children
        kids = [k for k in tasks if k.parent == t.ident]
        if kids:
            t.start = min(k.start for k in kids if k.start)
            t.finish = max(k.finish for k in kids if k.finish)
    return Plan(tasks, links, by["4.1"].days)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _days(n: float) -> str:
    return f"P{int(n)}D" if float(n).is_integer() else f"PT{n * 8:g}H"


def write_ifc4(model: ifcopenshell.file, current: Plan, baseline: Plan,
               groups: dict[str, list[ifcopenshell.entity_instance]]) -> dict:
    """Author the schedule with ``ifcopenshell.api.sequence``; return the IFC entities made.

    Times are written on ``IfcTaskTime`` directly: ``edit_task_time`` would move them to its own
    09:00/17:00 convention and cascade them through the sequences, which the plan has done already.
    """
    api = ifcopenshell.api.sequence
    work_plan = api.add_work_plan(model, name="施工总进度计划 Construction programme",
                                  predefined_type="PLANNED", start_time=CREATED)
    schedule = api.add_work_schedule(model, name="施工进度计划 Current schedule",
                                     predefined_type="PLANNED", start_time=CREATED, work_plan=work_plan)
    for control in (work_plan, schedule):  # the API stamps both with the wall clock
        control.CreationDate = control.StartTime = CREATED
    calendar = api.add_work_calendar(model, name="六天工作制 Six-day week", predefined_type="FIRSTSHIFT")
    work_time = api.add_work_time(model, work_calendar=calendar, time_type="WorkingTimes")
    api.edit_work_time(model, work_time=work_time, attributes={"Name": "周一至周六 Mon-Sat"})
    pattern = api.assign_recurrence_pattern(model, parent=work_time, recurrence_type="WEEKLY")
    api.edit_recurrence_pattern(model, recurrence_pattern=pattern,
                                attributes={"WeekdayComponent": list(WEEKDAYS)})
    for a, b in HOURS:
        api.add_time_period(model, recurrence_pattern=pattern, start_time=a, end_time=b)
    for first, last in HOLIDAYS:
        holiday = api.add_work_time(model, work_calendar=calendar, time_type="ExceptionTimes")
        api.edit_work_time(model, work_time=holiday, attributes={
            "Name": f"春节停工 {first.year}", "Start": first.isoformat(), "Finish": last.isoformat()})

    entity: dict[str, ifcopenshell.entity_instance] = {}
    for t in current.tasks:
        parent = entity.get(t.parent) if t.parent else None
        task = api.add_task(model, work_schedule=None if parent else schedule, parent_task=parent,
                            name=t.name, identification=t.ident, predefined_type="CONSTRUCTION")
        api.edit_task(model, task=task, attributes={"IsMilestone": t.milestone})
        entity[t.ident] = task
        for group in t.outputs:
            for element in groups[group]:
                api.assign_product(model, relating_product=element, related_object=task)
        for group in t.inputs:
            for element in groups[group]:
                api.assign_process(model, relating_process=task, related_object=element)
    roots = [entity[t.ident] for t in current.tasks if not t.parent]
    ifcopenshell.api.control.assign_control(model, relating_control=calendar, related_objects=roots)
    for a, b, kind, lag in current.links:
        rel = api.assign_sequence(model, relating_process=entity[a], related_process=entity[b],
                                  sequence_type={"FS": "FINISH_START", "SS": "START_START",
                                                 "FF": "FINISH_FINISH"}[kind])
        if lag:
            api.assign_lag_time(model, rel_sequence=rel, lag_value=_days(lag), duration_type="WORKTIME")

    def set_times(plan: Plan, tasks: dict[str, ifcopenshell.entity_instance]) -> None:
        for t in plan.tasks:
            task = tasks[t.ident]
            task_time = task.TaskTime or api.add_task_time(model, task=task)
            task_time.DurationType = "WORKTIME"
            task_time.ScheduleStart, task_time.ScheduleFinish = _iso(t.start), _iso(t.finish)
            if t.days or t.milestone:
                task_time.ScheduleDuration = _days(t.days)

    set_times(baseline, entity)
    base = api.create_baseline(model, work_schedule=schedule, name="合同基线 Contract baseline")
    base.CreationDate = base.StartTime = CREATED
    # create_baseline re-links the copies with assign_sequence, which cascades their dates in its
    # own way: write the baseline's dates on the copies again (IfcRelDefinesByObject finds them).
    copies = {ident: next(o for rel in task.Declares for o in rel.RelatedObjects)
              for ident, task in entity.items()}
    set_times(baseline, copies)
    set_times(current, entity)
    return {"work_plan": work_plan, "schedule": schedule, "baseline": base, "calendar": calendar,
            "tasks": entity}


def _date_and_time(model: ifcopenshell.file, value: datetime) -> ifcopenshell.entity_instance:
    zone = model.create_entity("IfcCoordinatedUniversalTimeOffset", HourOffset=8, Sense="AHEAD")
    return model.create_entity(
        "IfcDateAndTime",
        DateComponent=model.create_entity("IfcCalendarDate", DayComponent=value.day,
                                          MonthComponent=value.month, YearComponent=value.year),
        TimeComponent=model.create_entity("IfcLocalTime", HourComponent=value.hour,
                                          MinuteComponent=value.minute, SecondComponent=0.0, Zone=zone))


def write_ifc2x3(model: ifcopenshell.file, current: Plan, baseline: Plan,
                 groups: dict[str, list[ifcopenshell.entity_instance]], owner, new_guid) -> dict:
    """Author the schedule in IFC2X3 with ``create_entity``: two IfcWorkSchedules (PLANNED and
    BASELINE) over the same tasks, each task's times in an IfcScheduleTimeControl per schedule."""
    created = _date_and_time(model, datetime.fromisoformat(CREATED))

    def root(ifc_class: str, **attributes) -> ifcopenshell.entity_instance:
        return model.create_entity(ifc_class, GlobalId=new_guid(), OwnerHistory=owner, **attributes)

    schedules = {}
    for purpose, plan, name in (("PLANNED", current, "施工进度计划 Current schedule"),
                                ("BASELINE", baseline, "合同基线 Contract baseline")):
        schedules[purpose] = root("IfcWorkSchedule", Name=name, Identifier=purpose, CreationDate=created,
                                  StartTime=_date_and_time(model, plan.tasks[0].start),
                                  FinishTime=_date_and_time(model, plan.tasks[-1].finish),
                                  WorkControlType=purpose)
    entity = {t.ident: root("IfcTask", Name=t.name, TaskId=t.ident, IsMilestone=t.milestone,
                            ObjectType="CONSTRUCTION") for t in current.tasks}
    children: dict[str, list] = {}
    for t in current.tasks:
        if t.parent:
            children.setdefault(t.parent, []).append(entity[t.ident])
    for parent, kids in children.items():
        root("IfcRelNests", RelatingObject=entity[parent], RelatedObjects=kids)
    for purpose, plan in (("PLANNED", current), ("BASELINE", baseline)):
        for t in plan.tasks:
            control = root("IfcScheduleTimeControl", ScheduleStart=_date_and_time(model, t.start),
                           ScheduleFinish=_date_and_time(model, t.finish),
                           ScheduleDuration=float(t.days * 8 * 3600) if t.days or t.milestone else None)
            root("IfcRelAssignsTasks", RelatedObjects=[entity[t.ident]], RelatingControl=schedules[purpose],
                 TimeForTask=control)
    for a, b, kind, lag in current.links:
        root("IfcRelSequence", RelatingProcess=entity[a], RelatedProcess=entity[b],
             TimeLag=float(lag * 8 * 3600),
             SequenceType={"FS": "FINISH_START", "SS": "START_START", "FF": "FINISH_FINISH"}[kind])
    for t in current.tasks:
        for group in t.outputs:
            for element in groups[group]:
                root("IfcRelAssignsToProduct", RelatedObjects=[entity[t.ident]], RelatingProduct=element)
        if t.inputs:
            root("IfcRelAssignsToProcess", RelatingProcess=entity[t.ident],
                 RelatedObjects=[e for g in t.inputs for e in groups[g]])
    return {"schedules": schedules, "tasks": entity}
