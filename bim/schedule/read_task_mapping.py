"""A CSV that maps element GlobalIds to tasks (an event log, a 4D tool's link export)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from os import PathLike
from pathlib import Path

from bim.schedule.read_msproject import GUID
from bim.schedule.types import Task, TaskElement

__all__ = ["read_task_mapping"]

GUID_COLUMNS = ("globalid", "global_id", "guid", "ifcguid", "ifc_guid", "elementguid", "element_guid")
TASK_ID_COLUMNS = ("taskid", "task_id", "taskuid", "task_uid", "uid", "wbs", "task")
TASK_NAME_COLUMNS = ("taskname", "task_name", "name", "task name")
TASK_START_COLUMNS = ("taskstart", "task_start", "start", "planned_start")
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S")


def read_task_mapping(csv_path: str | PathLike, tasks: list[Task], *,
                      warnings: list[str] | None = None) -> list[TaskElement]:
    """Links from a CSV with one (GlobalId, task) pair per row to ``tasks``.

    Columns are found by name, case-insensitively: the GlobalId in ``GlobalId``/``GUID``/
    ``IfcGUID``; the task in ``TaskID``/``UID``/``WBS`` (matched against the tasks' source ids
    and identifications) and/or ``TaskName`` (with ``TaskStart`` to choose among tasks of the
    same name: the one starting that day, else the nearest start, counted in a warning).
    The delimiter (comma, semicolon, tab) is sniffed; rows with every field empty are skipped.

    Parameters
    ----------
    csv_path : path
    tasks : list of Task
        The schedule's tasks (e.g. from :func:`bim.schedule.read_msproject`).
    warnings : list of str, optional
        Receives the unmatched and approximate counts.

    Returns
    -------
    list of TaskElement
        One ``output`` link per distinct (task, GlobalId).
    """
    warnings = warnings if warnings is not None else []
    raw = Path(csv_path).read_text(encoding="utf-8-sig")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(raw[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(raw), dialect=dialect)
    fields = {(f or "").strip().casefold(): f for f in reader.fieldnames or ()}
    guid_col = _pick(fields, GUID_COLUMNS)
    id_col = _pick(fields, TASK_ID_COLUMNS)
    name_col = _pick(fields, TASK_NAME_COLUMNS)
    start_col = _pick(fields, TASK_START_COLUMNS)
    if guid_col is None or (id_col is None and name_col is None):
        raise ValueError(f"{csv_path}: needs a GlobalId column ({', '.join(GUID_COLUMNS)}) and a "
                         f"task column ({', '.join(TASK_ID_COLUMNS + TASK_NAME_COLUMNS)}); "
                         f"found {', '.join(reader.fieldnames or ())}")

    by_id: dict[str, list[Task]] = {}
    for t in tasks:
        for key in {t.source_id, t.identification}:
            if key:
                by_id.setdefault(key.strip(), []).append(t)
    by_name: dict[str, list[Task]] = {}
    for t in tasks:
        if t.name:
            by_name.setdefault(t.name.strip().casefold(), []).append(t)

    cache: dict[tuple[str, str, str], Task | None] = {}
    out: list[TaskElement] = []
    seen: set[tuple[str, str]] = set()
    unmatched_rows, bad_guids = 0, 0
    approximate: set[str] = set()
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        guid = (row.get(guid_col) or "").strip()
        if not GUID.match(guid):
            bad_guids += 1
            continue
        row_key = ((row.get(id_col) or "") if id_col else "", (row.get(name_col) or "") if name_col else "",
                   (row.get(start_col) or "") if start_col else "")
        if row_key not in cache:
            cache[row_key] = _match(row_key, by_id, by_name, approximate)
        task = cache[row_key]
        if task is None:
            unmatched_rows += 1
            continue
        if (task.key, guid) not in seen:
            seen.add((task.key, guid))
            out.append(TaskElement(task.key, guid, "output"))
    if unmatched_rows:
        missing = sum(1 for v in cache.values() if v is None)
        warnings.append(f"mapping: {unmatched_rows} row(s) name {missing} task(s) that are not in "
                        "the schedule or not unique in it; not linked")
    if bad_guids:
        warnings.append(f"mapping: {bad_guids} row(s) without a valid GlobalId skipped")
    if approximate:
        warnings.append(f"mapping: {len(approximate)} task name(s) matched several tasks and were "
                        "resolved by the nearest start date")
    return out


def _pick(fields: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((fields[n] for n in names if n in fields), None)


def _day(text: str) -> date | None:
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _match(key: tuple[str, str, str], by_id: dict[str, list[Task]], by_name: dict[str, list[Task]],
           approximate: set[str]) -> Task | None:
    task_id, name, start = (k.strip() for k in key)
    if task_id:
        found = by_id.get(task_id, [])
        if len(found) == 1:
            return found[0]
    candidates = by_name.get(name.casefold(), []) if name else []
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    day = _day(start) if start else None
    if day is None:  # several tasks of that name and no start date to choose: leave it unlinked
        return None
    exact = [t for t in candidates if t.planned_start and t.planned_start.date() == day]
    if len(exact) == 1:
        return exact[0]
    dated = [t for t in candidates if t.planned_start]
    if not dated:
        return None
    approximate.add(name)
    return min(dated, key=lambda t: (abs((t.planned_start.date() - day).days), t.order))  # type: ignore[union-attr]
