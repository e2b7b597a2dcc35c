"""MS Project XML (MSPDI): the Schependomlaan schedule and event log, and a small made-up file."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bim.schedule import read_msproject, read_task_mapping
from tests.conftest import shared_file

SH = ZoneInfo("Asia/Shanghai")
FOLDER = "schependomlaan_eventlogs"


@pytest.fixture(scope="module")
def xml_path():
    return shared_file("sample_ifc_external", FOLDER, "Uitvoering_Schependomlaan_18-02-2015_msproject.xml")


@pytest.fixture(scope="module")
def csv_path():
    return shared_file("sample_ifc_external", FOLDER, "eventlog_as_planned_incl_as_built.csv")


def _tasks_by_regex(text: str) -> list[str]:
    body = text[text.index("<Tasks>"):text.index("</Tasks>")]
    return re.findall(r"<Task>(.*?)</Task>", body, flags=re.S)


def test_schependomlaan_tasks(xml_path):
    text = xml_path.read_text(encoding="utf-8")
    raw = [t for t in _tasks_by_regex(text)
           if "<IsNull>1</IsNull>" not in t and not re.search(r"<UID>0</UID>", t)]
    # Headings and blank lines typed as tasks: hidden bar, zero duration, no predecessor.
    labels = [t for t in raw if "<HideBar>1</HideBar>" in t and "<Duration>PT0H0M0S</Duration>" in t
              and "<Milestone>1</Milestone>" not in t and "<Summary>1</Summary>" not in t
              and "<PredecessorLink>" not in t]
    raw = [t for t in raw if t not in labels]
    data = read_msproject(xml_path)
    assert len(data.tasks) == len(raw) == 157 - 43 and len(labels) == 43
    first = re.search(r"<UID>(\d+)</UID>.*?<Name>(.*?)</Name>.*?<Start>(.*?)</Start>"
                      r".*?<Finish>(.*?)</Finish>", raw[4], flags=re.S)
    task = next(t for t in data.tasks if t.key == first.group(1))
    assert task.name == first.group(2).strip()
    assert task.planned_start == datetime.fromisoformat(first.group(3)).replace(tzinfo=SH)
    assert task.planned_finish == datetime.fromisoformat(first.group(4)).replace(tzinfo=SH)
    assert {t.date_source for t in data.tasks} == {"msproject"}
    (schedule,) = data.schedules
    assert schedule.source == "msproject" and schedule.name == "Schependomlaan Nijmegen"
    assert schedule.calendar.weekdays == (1, 2, 3, 4, 5)
    assert schedule.calendar.hours == (("08:00", "16:00"),)
    assert len(data.calendars) == text.count("<Calendar>")
    assert data.warnings == ["43 label row(s) left out (hidden bar, no duration, no links: "
                             "headings or blank lines typed as tasks)"]


def test_schependomlaan_predecessor_links(xml_path):
    text = xml_path.read_text(encoding="utf-8")
    expected = []
    for task in _tasks_by_regex(text):
        uid = re.search(r"<UID>(\d+)</UID>", task).group(1)
        for link in re.findall(r"<PredecessorLink>(.*?)</PredecessorLink>", task, flags=re.S):
            pred = re.search(r"<PredecessorUID>(\d+)</PredecessorUID>", link).group(1)
            code = re.search(r"<Type>(\d)</Type>", link).group(1)
            kind = {"0": "FF", "1": "FS", "2": "SF", "3": "SS"}[code]
            lag = int(re.search(r"<LinkLag>(-?\d+)</LinkLag>", link).group(1)) / 10 / 480  # 480 min/day
            expected.append((pred, uid, kind, lag))
    data = read_msproject(xml_path)
    got = sorted((d.predecessor_key, d.successor_key, d.kind, d.lag_days) for d in data.dependencies)
    assert got == sorted(expected)
    assert len(got) == text.count("<PredecessorLink>") == 48
    assert ("197", "201", "SS", 1.0) in got        # LinkLag 4800 = 480 minutes = one working day


def test_schependomlaan_event_log_links_elements_to_tasks(xml_path, csv_path):
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if any(v.strip() for v in r.values())]
    pairs = {(r["GUID"], r["TaskID"]) for r in rows}
    guids = {r["GUID"] for r in rows}
    data = read_msproject(xml_path)
    warnings: list[str] = []
    links = read_task_mapping(csv_path, data.tasks, warnings=warnings)
    assert len(links) == len(pairs) == 3661
    assert {te.global_id for te in links} == guids and len(guids) == 2358
    assert {te.relation for te in links} == {"output"}
    names = {t.key: t.name for t in data.tasks}
    by_pair = {(r["GUID"], r["TaskID"]): r["TaskName"].strip() for r in rows}
    # Every link lands on a task of the name the log gives for that element and task id.
    linked_names = {(te.global_id, names[te.task_key]) for te in links}
    assert linked_names == {(g, by_pair[(g, tid)]) for g, tid in pairs}
    assert len({te.task_key for te in links}) == len({r["TaskID"] for r in rows})
    # One task name of the log ("Dakbedekking platte daken") is on two tasks and its as-built
    # start matches neither: it is resolved by the nearest start and said so.
    assert any("nearest start" in w for w in warnings)


MSPDI = """<?xml version="1.0" encoding="UTF-8"?>
<Project xmlns="http://schemas.microsoft.com/project">
  <Name>made up</Name><MinutesPerDay>480</MinutesPerDay><CalendarUID>1</CalendarUID>
  <ExtendedAttributes><ExtendedAttribute><FieldID>188743731</FieldID><FieldName>Text1</FieldName>
    <Alias>IfcGUID</Alias></ExtendedAttribute></ExtendedAttributes>
  <Calendars><Calendar><UID>1</UID><Name>Six days</Name><WeekDays>
    <WeekDay><DayType>1</DayType><DayWorking>0</DayWorking></WeekDay>
    <WeekDay><DayType>2</DayType><DayWorking>1</DayWorking><WorkingTimes><WorkingTime>
      <FromTime>08:00:00</FromTime><ToTime>12:00:00</ToTime></WorkingTime><WorkingTime>
      <FromTime>13:00:00</FromTime><ToTime>17:00:00</ToTime></WorkingTime></WorkingTimes></WeekDay>
    <WeekDay><DayType>7</DayType><DayWorking>1</DayWorking></WeekDay>
  </WeekDays><Exceptions><Exception><TimePeriod><FromDate>2024-02-10T00:00:00</FromDate>
    <ToDate>2024-02-17T23:59:00</ToDate></TimePeriod><DayWorking>0</DayWorking></Exception>
  </Exceptions></Calendar></Calendars>
  <Tasks>
    <Task><UID>0</UID><ID>0</ID><Name>made up</Name><OutlineLevel>0</OutlineLevel><Summary>1</Summary></Task>
    <Task><UID>10</UID><ID>1</ID><WBS>1</WBS><Name>Structure</Name><OutlineLevel>1</OutlineLevel>
      <Start>2024-03-04T08:00:00</Start><Finish>2024-03-15T17:00:00</Finish><Summary>1</Summary></Task>
    <Task><UID>11</UID><ID>2</ID><WBS>1.1</WBS><Name>Columns</Name><OutlineLevel>2</OutlineLevel>
      <Start>2024-03-04T08:00:00</Start><Finish>2024-03-08T17:00:00</Finish><Duration>PT40H0M0S</Duration>
      <Baseline><Number>0</Number><Start>2024-03-01T08:00:00</Start><Finish>2024-03-07T17:00:00</Finish></Baseline>
      <Baseline><Number>1</Number><Start>2023-03-01T08:00:00</Start><Finish>2023-03-07T17:00:00</Finish></Baseline>
      <ExtendedAttribute><FieldID>188743731</FieldID>
        <Value>2O2Fr$t4X7Zf8NOew3FLOH; 1hOSvn6df7F8_7GcBWlRGQ</Value></ExtendedAttribute></Task>
    <Task><UID>12</UID><ID>3</ID><WBS>1.2</WBS><Name>Slab</Name><OutlineLevel>2</OutlineLevel>
      <Start>2024-03-11T08:00:00</Start><Finish>2024-03-15T17:00:00</Finish>
      <PredecessorLink><PredecessorUID>11</PredecessorUID><Type>3</Type><LinkLag>14400</LinkLag>
        <LagFormat>8</LagFormat></PredecessorLink>
      <PredecessorLink><PredecessorUID>14</PredecessorUID><Type>0</Type><LinkLag>0</LinkLag>
        <LagFormat>7</LagFormat></PredecessorLink></Task>
    <Task><UID>13</UID><ID>4</ID><WBS>1.2.1</WBS><Name>Rebar</Name><OutlineLevel>3</OutlineLevel></Task>
    <Task><UID>14</UID><ID>5</ID><WBS>2</WBS><Name>Handover</Name><OutlineLevel>1</OutlineLevel>
      <Start>2024-03-15T17:00:00</Start><Finish>2024-03-15T17:00:00</Finish><Milestone>1</Milestone>
      <PredecessorLink><PredecessorUID>12</PredecessorUID><Type>2</Type><LinkLag>2400</LinkLag>
        <LagFormat>7</LagFormat></PredecessorLink></Task>
    <Task><UID>15</UID><ID>6</ID><Name>Deleted</Name><IsNull>1</IsNull><OutlineLevel>1</OutlineLevel></Task>
  </Tasks>
</Project>
"""


def test_made_up_project(tmp_path):
    path = tmp_path / "p.xml"
    path.write_text(MSPDI, encoding="utf-8")
    data = read_msproject(path)
    t = {task.name: task for task in data.tasks}
    assert set(t) == {"Structure", "Columns", "Slab", "Rebar", "Handover"}   # no UID 0, no null
    assert t["Columns"].parent_key == "10" and t["Rebar"].parent_key == "12"
    assert t["Handover"].parent_key is None and t["Handover"].is_milestone
    assert t["Slab"].is_summary and t["Structure"].is_summary and not t["Columns"].is_summary
    assert t["Columns"].identification == "1.1" and t["Columns"].duration_days == 5.0
    assert t["Columns"].baseline_start == datetime(2024, 3, 1, 8, tzinfo=SH)      # Baseline 0 only
    deps = {(d.predecessor_key, d.successor_key): (d.kind, d.lag_days) for d in data.dependencies}
    assert deps == {("11", "12"): ("SS", 1.0), ("14", "12"): ("FF", 0.0), ("12", "14"): ("SF", 0.5)}
    assert sorted(te.global_id for te in data.task_elements) == ["1hOSvn6df7F8_7GcBWlRGQ",
                                                                 "2O2Fr$t4X7Zf8NOew3FLOH"]
    assert {te.task_key for te in data.task_elements} == {"11"}
    (calendar,) = data.calendars
    assert calendar.weekdays == (1, 6) and calendar.hours_per_day == 8.0
    assert calendar.exceptions[0][2] is False
    assert any(w.startswith("dependency cycle") and "'1.2'" in w and "'2'" in w for w in data.warnings)
    assert any("1 task(s) have no dates: '1.2.1'" in w for w in data.warnings)
    assert t["Rebar"].date_source == "none"


def test_not_mspdi(tmp_path):
    bad = tmp_path / "x.xml"
    bad.write_text("<html/>", encoding="utf-8")
    with pytest.raises(ValueError, match="not an MS Project"):
        read_msproject(bad)
    bad.write_text("not xml at all", encoding="utf-8")
    with pytest.raises(ValueError, match="not an XML"):
        read_msproject(bad)
