"""Plain data the schedule readers return and the store writes.

Readers key everything by the source's own ids (IFC GlobalId, MSPDI UID): database ids exist only
once :func:`bim.schedule.store_schedule` has written the rows.  Datetimes are timezone-aware (a
file's naive local times are read in the project's zone, Asia/Shanghai unless told otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

PURPOSES = ("planned", "baseline", "actual", "other")
KINDS = ("FS", "SS", "FF", "SF")


@dataclass(frozen=True)
class Calendar:
    """A work calendar: working weekdays (ISO, 1 = Monday), hours, and exceptions."""

    source_id: str | None
    name: str | None
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    hours: tuple[tuple[str, str], ...] = (("08:00", "17:00"),)
    # (first day, last day, working?) — holidays are non-working, make-up days working.
    exceptions: tuple[tuple[date, date, bool], ...] = ()

    @property
    def hours_per_day(self) -> float:
        total = 0.0
        for start, finish in self.hours:
            h0, m0 = (int(x) for x in start.split(":")[:2])
            h1, m1 = (int(x) for x in finish.split(":")[:2])
            total += max(0, (h1 * 60 + m1) - (h0 * 60 + m0)) / 60
        return total or 8.0

    def is_working_day(self, day: date) -> bool:
        for first, last, working in self.exceptions:
            if first <= day <= last:
                return working
        return day.isoweekday() in self.weekdays

    def as_json(self) -> dict:
        return {
            "source_id": self.source_id,
            "name": self.name,
            "weekdays": list(self.weekdays),
            "hours": [list(h) for h in self.hours],
            "hours_per_day": self.hours_per_day,
            "exceptions": [{"from": a.isoformat(), "to": b.isoformat(), "working": w}
                           for a, b, w in self.exceptions],
        }


@dataclass
class Schedule:
    """One work schedule (IfcWorkSchedule / IFC2X3 IfcWorkSchedule / an MSPDI project)."""

    key: str                       # GlobalId, or a synthetic key for tasks without a schedule
    source: str                    # 'ifc' or 'msproject'
    source_id: str | None
    name: str | None
    purpose: str                   # one of PURPOSES
    work_plan: str | None = None   # name of the IfcWorkPlan it belongs to
    calendar: Calendar | None = None


@dataclass
class Task:
    key: str                        # unique in one ScheduleData: GlobalId / MSPDI UID (+ @schedule)
    schedule_key: str
    source_id: str | None = None    # GlobalId / MSPDI UID as written in the source
    parent_key: str | None = None   # WBS parent
    identification: str | None = None
    name: str | None = None
    is_milestone: bool = False
    is_summary: bool = False
    planned_start: datetime | None = None
    planned_finish: datetime | None = None
    baseline_start: datetime | None = None
    baseline_finish: datetime | None = None
    date_source: str = "none"       # schedule, early, duration, children, msproject, none (+ mixes)
    duration_days: float | None = None
    order: int = 0                  # position in the source, for a stable order


@dataclass(frozen=True)
class Dependency:
    predecessor_key: str
    successor_key: str
    kind: str = "FS"                # one of KINDS
    lag_days: float = 0.0


@dataclass(frozen=True)
class TaskElement:
    task_key: str
    global_id: str
    relation: str = "output"        # 'output' (IfcRelAssignsToProduct) or 'input' (…ToProcess)


@dataclass
class ScheduleData:
    """Everything one source holds, with the warnings reading it produced."""

    schedules: list[Schedule] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    dependencies: list[Dependency] = field(default_factory=list)
    task_elements: list[TaskElement] = field(default_factory=list)
    calendars: list[Calendar] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "schedules": len(self.schedules),
            "tasks": len(self.tasks),
            "milestones": sum(t.is_milestone for t in self.tasks),
            "dependencies": len(self.dependencies),
            "task_elements": len(self.task_elements),
        }
