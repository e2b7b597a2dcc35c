"""IFC4/IFC4X3 schedules: the specification's sample and small models built in memory."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import ifcopenshell
import ifcopenshell.api.control
import ifcopenshell.api.root
import ifcopenshell.api.sequence
import pytest

from bim.schedule import (
    find_cycles,
    read_calendars,
    read_dependencies,
    read_schedule_data,
    read_task_elements,
    read_tasks,
)
from bim.schedule.types import Dependency
from tests.bim.schedule.conftest import add_task, ifc4_file, set_time
from tests.conftest import shared_file

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def spec_sample() -> ifcopenshell.file:
    return ifcopenshell.open(str(shared_file("sample_ifc_external", "construction-scheduling-task.ifc")))


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_spec_sample_tasks_fall_back_to_early_dates(spec_sample):
    entities = spec_sample.by_type("IfcTask")
    tasks = read_tasks(spec_sample)
    assert len(tasks) == len(entities) == 8
    by_key = {t.key: t for t in tasks}
    for entity in entities:
        task = by_key[entity.GlobalId]
        time_ = entity.TaskTime
        # Independent expectation: ScheduleStart/Finish when present, else EarlyStart/EarlyFinish.
        start = time_.ScheduleStart or time_.EarlyStart
        finish = time_.ScheduleFinish or time_.EarlyFinish
        assert task.planned_start == _local(start)
        assert task.planned_finish == _local(finish)
        if time_.ScheduleStart is None and time_.ScheduleFinish is None:
            assert task.date_source == "early"
    # Seven of the eight have no ScheduleStart/ScheduleFinish at all.
    assert sum(t.date_source == "early" for t in tasks) == 7
    assert by_key["0HSpq15hDC2R2RlJos8Ql5"].date_source == "schedule+early"


def test_spec_sample_wbs_and_durations(spec_sample):
    tasks = {t.name: t for t in read_tasks(spec_sample)}
    nested = {(rel.RelatingObject.GlobalId, child.GlobalId)
              for rel in spec_sample.by_type("IfcRelNests") if rel.RelatingObject.is_a("IfcTask")
              for child in rel.RelatedObjects}
    assert {(t.parent_key, t.key) for t in tasks.values() if t.parent_key} == nested
    assert tasks["Ground Level"].parent_key is None and tasks["Ground Level"].is_summary
    # P0Y0M1DT16H0M0S of WORKTIME = 40 working hours = 5 days of the 08:00-16:00 calendar.
    assert tasks["Ground Level"].duration_days == pytest.approx(5.0)
    assert tasks["Wall #1"].duration_days == pytest.approx(1.0)


def test_spec_sample_sequences(spec_sample):
    rels = spec_sample.by_type("IfcRelSequence")
    deps = read_dependencies(spec_sample)
    assert len(deps) == len(rels) == 7
    assert {(d.predecessor_key, d.successor_key) for d in deps} == {
        (r.RelatingProcess.GlobalId, r.RelatedProcess.GlobalId) for r in rels}
    assert {d.kind for d in deps} == {"FS"} and {d.lag_days for d in deps} == {0.0}


def test_spec_sample_outputs_and_calendar(spec_sample):
    links = read_task_elements(spec_sample)
    expected = {(task.GlobalId, rel.RelatingProduct.GlobalId)
                for rel in spec_sample.by_type("IfcRelAssignsToProduct") for task in rel.RelatedObjects}
    assert {(te.task_key, te.global_id) for te in links} == expected
    assert {te.relation for te in links} == {"output"}
    (calendar,) = read_calendars(spec_sample)
    assert calendar.weekdays == (1, 2, 3, 4, 5)
    assert calendar.hours == (("08:00", "16:00"),)
    data = read_schedule_data(spec_sample)
    assert data.counts() == {"schedules": 1, "tasks": 8, "milestones": 0, "dependencies": 7,
                             "task_elements": 6}
    assert data.schedules[0].purpose == "planned" and data.schedules[0].work_plan == "Work Plan #1"
    assert data.warnings == []


@pytest.fixture
def messy_ifc4() -> ifcopenshell.file:
    """Duration fallbacks, lags of three kinds, a milestone, an input, a cycle, a dateless task,
    a baseline schedule matched by identification, and a task outside any schedule."""
    model = ifc4_file()
    wall = ifcopenshell.api.root.create_entity(model, ifc_class="IfcWall", name="W1")
    plan = ifcopenshell.api.sequence.add_work_schedule(model, name="Plan", predefined_type="PLANNED")
    root = add_task(model, "Root", schedule=plan, ident="1")
    a = add_task(model, "A", parent=root, ident="1.1")
    b = add_task(model, "B", parent=root, ident="1.2")
    c = add_task(model, "C", parent=root, ident="1.3", milestone=True)
    d = add_task(model, "D", parent=root, ident="1.4")
    add_task(model, "Loose", ident="9")
    api = ifcopenshell.api.sequence
    ab = api.assign_sequence(model, relating_process=a, related_process=b, sequence_type="FINISH_START")
    api.assign_lag_time(model, rel_sequence=ab, lag_value="P2D", duration_type="WORKTIME")
    bc = api.assign_sequence(model, relating_process=b, related_process=c, sequence_type="START_START")
    api.assign_lag_time(model, rel_sequence=bc, lag_value="PT4H", duration_type="WORKTIME")
    ca = api.assign_sequence(model, relating_process=c, related_process=a, sequence_type="FINISH_FINISH")
    api.assign_lag_time(model, rel_sequence=ca, lag_value="P3D", duration_type="ELAPSEDTIME")
    api.assign_process(model, relating_process=d, related_object=wall)
    api.assign_product(model, relating_product=wall, related_object=a)
    set_time(model, a, ScheduleStart="2024-03-04T08:00:00", ScheduleDuration="P3D")
    set_time(model, b, ScheduleFinish="2024-03-08T17:00:00", ScheduleDuration="P2D")
    set_time(model, c, ScheduleStart="2024-03-11T08:00:00")
    base = api.add_work_schedule(model, name="Baseline", predefined_type="BASELINE")
    b_root = add_task(model, "Root", schedule=base, ident="1")
    b_a = add_task(model, "A", parent=b_root, ident="1.1")
    set_time(model, b_a, ScheduleStart="2024-02-26T08:00:00", ScheduleFinish="2024-02-28T17:00:00")
    return model


def test_duration_fallbacks_and_milestone(messy_ifc4):
    data = read_schedule_data(messy_ifc4)
    t = {task.name: task for task in data.tasks}
    assert t["A"].planned_start == _local("2024-03-04T08:00:00")
    assert t["A"].planned_finish == _local("2024-03-06T17:00:00")      # 3 working days
    assert t["A"].date_source == "schedule+duration" and t["A"].duration_days == 3
    assert t["B"].planned_start == _local("2024-03-07T08:00:00")       # 2 days back from Friday
    assert t["B"].date_source == "duration+schedule"
    assert t["C"].is_milestone and t["C"].planned_finish == t["C"].planned_start
    assert t["D"].date_source == "none" and t["D"].planned_start is None
    assert t["Root"].date_source == "children"
    assert t["Root"].planned_start == t["A"].planned_start
    assert t["Root"].planned_finish == t["C"].planned_finish
    assert t["Root"].parent_key is None and t["A"].parent_key == t["Root"].key


def test_lags_kinds_and_inputs(messy_ifc4):
    data = read_schedule_data(messy_ifc4)
    names = {task.key: task.name for task in data.tasks}
    deps = {(names[d.predecessor_key], names[d.successor_key]): (d.kind, d.lag_days)
            for d in data.dependencies}
    assert deps == {("A", "B"): ("FS", 2.0), ("B", "C"): ("SS", 0.5), ("C", "A"): ("FF", 3.0)}
    relations = {(names[te.task_key], te.relation) for te in data.task_elements}
    assert relations == {("A", "output"), ("D", "input")}


def test_cycles_and_dateless_tasks_warn_and_are_kept(messy_ifc4):
    data = read_schedule_data(messy_ifc4)
    cycle = [w for w in data.warnings if w.startswith("dependency cycle")]
    assert len(cycle) == 1 and all(f"'{n}'" in cycle[0] for n in ("1.1", "1.2", "1.3"))
    dateless = [w for w in data.warnings if "have no dates" in w]
    assert len(dateless) == 1 and "'1.4'" in dateless[0]
    assert len(data.dependencies) == 3          # the cycle's links are kept


def test_baseline_merged_and_loose_tasks_gathered(messy_ifc4):
    data = read_schedule_data(messy_ifc4)
    assert [s.purpose for s in data.schedules] == ["planned", "other"]
    t = {task.name: task for task in data.tasks}
    assert len(data.tasks) == 6                 # the baseline copies are merged, not stored
    assert t["A"].baseline_start == _local("2024-02-26T08:00:00")
    assert t["A"].baseline_finish == _local("2024-02-28T17:00:00")
    assert t["Loose"].schedule_key == "unscheduled"
    assert any("belong to no work schedule" in w for w in data.warnings)


def test_find_cycles_orders_each_cycle():
    deps = [Dependency("a", "b"), Dependency("b", "c"), Dependency("c", "a"), Dependency("c", "d"),
            Dependency("x", "x"), Dependency("d", "e")]
    assert find_cycles(deps) == [["a", "b", "c"], ["x"]]
    assert find_cycles([Dependency(str(i), str(i + 1)) for i in range(5000)]) == []


def test_ifc4x3_without_schedule_entities():
    model = ifc4_file("IFC4X3_ADD2")
    task = add_task(model, "Alone", ident="A")
    set_time(model, task, EarlyStart="2024-05-06T08:00:00", EarlyFinish="2024-05-07T17:00:00")
    data = read_schedule_data(model)
    assert [s.purpose for s in data.schedules] == ["planned"]
    assert data.tasks[0].date_source == "early" and data.warnings == []
