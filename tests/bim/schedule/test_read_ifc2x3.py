"""IFC2X3 schedules: IfcTask.TaskId + IfcScheduleTimeControl through IfcRelAssignsTasks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import ifcopenshell
import pytest

from bim.schedule import read_dependencies, read_schedule_data, read_tasks
from tests.bim.schedule.conftest import SAMPLE_IFC


def _datetime(entity) -> datetime:
    """IfcDateAndTime → aware datetime, written out here independently of the reader."""
    d, t = entity.DateComponent, entity.TimeComponent
    offset = timedelta(hours=t.Zone.HourOffset) * (1 if t.Zone.Sense == "AHEAD" else -1)
    return datetime(d.YearComponent, d.MonthComponent, d.DayComponent, t.HourComponent,
                    t.MinuteComponent, tzinfo=timezone(offset))


@pytest.fixture(scope="module")
def sample() -> ifcopenshell.file:
    return ifcopenshell.open(str(SAMPLE_IFC / "residential_ifc2x3.ifc"))


def test_sample_tasks_and_times(sample):
    assert sample.schema == "IFC2X3"
    times: dict[tuple[str, str], ifcopenshell.entity_instance] = {}
    for rel in sample.by_type("IfcRelAssignsTasks"):
        for task in rel.RelatedObjects:
            times[(task.GlobalId, rel.RelatingControl.WorkControlType)] = rel.TimeForTask
    data = read_schedule_data(sample)
    entities = sample.by_type("IfcTask")
    assert len(data.tasks) == len(entities) == 40
    assert [s.purpose for s in data.schedules] == ["planned"]   # the BASELINE one is merged
    by_key = {t.key: t for t in data.tasks}
    for entity in entities:
        task = by_key[entity.GlobalId]
        assert task.identification == entity.TaskId
        assert task.is_milestone == entity.IsMilestone
        planned, baseline = times[(entity.GlobalId, "PLANNED")], times[(entity.GlobalId, "BASELINE")]
        assert task.planned_start == _datetime(planned.ScheduleStart)
        assert task.planned_finish == _datetime(planned.ScheduleFinish)
        assert task.baseline_start == _datetime(baseline.ScheduleStart)
        assert task.baseline_finish == _datetime(baseline.ScheduleFinish)
        if planned.ScheduleDuration:
            assert task.duration_days == pytest.approx(planned.ScheduleDuration / 3600 / 8)
    slipped = [t.identification for t in data.tasks if t.planned_finish != t.baseline_finish]
    assert "2.6.3" in slipped and "1.1" not in slipped
    assert data.warnings == []


def test_sample_sequences_products_and_wbs(sample):
    rels = sample.by_type("IfcRelSequence")
    deps = read_dependencies(sample)
    assert len(deps) == len(rels) > 0
    kinds = {"FINISH_START": "FS", "START_START": "SS", "FINISH_FINISH": "FF"}
    assert sorted((d.predecessor_key, d.successor_key, d.kind, d.lag_days) for d in deps) == sorted(
        (r.RelatingProcess.GlobalId, r.RelatedProcess.GlobalId, kinds[r.SequenceType],
         r.TimeLag / 3600 / 8) for r in rels)
    data = read_schedule_data(sample)
    outputs = sum(len(r.RelatedObjects) for r in sample.by_type("IfcRelAssignsToProduct"))
    inputs = sum(len(r.RelatedObjects) for r in sample.by_type("IfcRelAssignsToProcess"))
    assert sum(te.relation == "output" for te in data.task_elements) == outputs
    assert sum(te.relation == "input" for te in data.task_elements) == inputs
    parents = {(rel.RelatingObject.GlobalId, child.GlobalId)
               for rel in sample.by_type("IfcRelNests") for child in rel.RelatedObjects}
    assert {(t.parent_key, t.key) for t in data.tasks if t.parent_key} == parents


def _ifc2x3_with_problems() -> ifcopenshell.file:
    m = ifcopenshell.file(schema="IFC2X3")
    guid = iter(f"{i:022d}" for i in range(1, 1000))

    def when(y, mo, d, h):
        return m.create_entity("IfcDateAndTime",
                               DateComponent=m.create_entity("IfcCalendarDate", DayComponent=d,
                                                             MonthComponent=mo, YearComponent=y),
                               TimeComponent=m.create_entity("IfcLocalTime", HourComponent=h,
                                                             MinuteComponent=0))

    schedule = m.create_entity("IfcWorkSchedule", GlobalId=next(guid), Name="S", Identifier="S",
                               CreationDate=when(2024, 1, 1, 8), StartTime=when(2024, 1, 1, 8))
    tasks = {n: m.create_entity("IfcTask", GlobalId=next(guid), Name=n, TaskId=n, IsMilestone=False)
             for n in ("early", "duration", "none", "child")}
    m.create_entity("IfcRelNests", GlobalId=next(guid), RelatingObject=tasks["none"],
                    RelatedObjects=[tasks["child"]])
    controls = {
        "early": m.create_entity("IfcScheduleTimeControl", GlobalId=next(guid),
                                 EarlyStart=when(2024, 3, 4, 8), EarlyFinish=when(2024, 3, 5, 17)),
        "duration": m.create_entity("IfcScheduleTimeControl", GlobalId=next(guid),
                                    ScheduleStart=when(2024, 3, 6, 8), ScheduleDuration=2 * 8 * 3600.0),
    }
    for name in ("early", "duration", "none"):
        m.create_entity("IfcRelAssignsTasks", GlobalId=next(guid), RelatedObjects=[tasks[name]],
                        RelatingControl=schedule, TimeForTask=controls.get(name))
    for a, b in (("early", "duration"), ("duration", "early")):
        m.create_entity("IfcRelSequence", GlobalId=next(guid), RelatingProcess=tasks[a],
                        RelatedProcess=tasks[b], TimeLag=0.0, SequenceType="FINISH_START")
    return m


def test_ifc2x3_fallbacks_cycle_and_dateless():
    model = _ifc2x3_with_problems()
    tasks = {t.name: t for t in read_tasks(model)}
    assert tasks["early"].date_source == "early"
    assert tasks["duration"].date_source == "schedule+duration"
    assert tasks["duration"].planned_finish.date().isoformat() == "2024-03-07"
    assert tasks["child"].parent_key == tasks["none"].key
    assert tasks["child"].schedule_key == tasks["none"].schedule_key    # inherited from its parent
    data = read_schedule_data(model)
    assert any(w.startswith("dependency cycle") for w in data.warnings)
    assert any("2 task(s) have no dates" in w for w in data.warnings)
    assert len(data.dependencies) == 2
