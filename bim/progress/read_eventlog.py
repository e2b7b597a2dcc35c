"""An as-planned/as-built event log (one row per element and task, labelled "On time" or
"Too late", as the Schependomlaan data set has it) as element-level progress reports."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from os import PathLike
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from bim.progress._project import current_model, project_id

__all__ = ["read_eventlog"]

logger = logging.getLogger(__name__)

LABEL_COLUMN = "element on time or not"
ON_TIME, TOO_LATE = "on time", "too late"
_GUID_COLUMNS = ("guid", "globalid", "global_id", "ifcguid", "ifc_guid")
_FINISH_COLUMNS = ("taskfinish", "task_finish", "finish", "planned_finish")
_DATE_FORMATS = ("%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y")
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

_PLANNED_FINISHES = """
    SELECT e.global_id, t.planned_finish
    FROM sitewatch.bim_element e
    JOIN sitewatch.task_element te ON te.element_id = e.id
    JOIN sitewatch.task t ON t.id = te.task_id
    JOIN sitewatch.schedule s ON s.id = t.schedule_id
    WHERE e.model_id = %(model)s AND s.model_id = %(model)s AND t.planned_finish IS NOT NULL
      AND s.purpose IS DISTINCT FROM 'baseline' AND s.purpose IS DISTINCT FROM 'actual'
"""


def read_eventlog(conn: psycopg.Connection, project_code: str, path: str | PathLike) -> list[dict]:
    """One ``done`` element-level report per element of the event log, its finish derived.

    The log says only whether an element was on time, not when it was built, so its actual
    finish is derived from the planned finishes of the tasks the element is linked to in the
    project's current model (``task_element``, schedules other than baseline/actual, as
    :func:`bim.progress.compute` reads them):

    - "On time": the earliest of those planned finishes (on time for every one of its tasks);
    - "Too late": one day after the latest of them (late for every one of its tasks).

    An element with both labels in the log counts as "Too late" (a warning is logged).  An
    element not linked to any dated task falls back to the planned finishes the log itself gives
    (``TaskFinish``, a day).  ``reported_at`` is the derived finish; the ``note`` says the date
    is derived from the label; ``client_id`` is a hash of the report, so importing the same log
    again records nothing new (and a changed schedule gives new reports, the latest of which win).

    Columns are found by name, case-insensitively: ``GUID`` (or ``GlobalId``, ``IfcGUID``),
    ``TaskFinish`` and ``Element on time or not``; the delimiter (comma, semicolon, tab) is
    sniffed; rows with every field empty are skipped.

    Parameters
    ----------
    conn : psycopg.Connection
    project_code : str
        The project whose current model's schedule gives the planned finishes.
    path : path
        The event log (CSV, UTF-8, a BOM is fine).

    Returns
    -------
    list of dict
        Reports for :func:`bim.progress.record_reports` (elements not in the model make it
        reject the batch, as for any import).

    Raises
    ------
    ValueError
        The file lacks the columns, or a row has another label than "On time" / "Too late".
    NotFound
        No such project.
    """
    path = Path(path)
    labels, log_finishes = _read(path)
    model = current_model(conn, project_id(conn, project_code))
    planned: dict[str, list[datetime]] = defaultdict(list)
    if model is not None:
        for gid, finish in conn.execute(_PLANNED_FINISHES, {"model": model}).fetchall():
            if gid in labels:
                planned[gid].append(finish)
    reports, mixed, unlinked = [], 0, 0
    for gid in sorted(labels):
        late = TOO_LATE in labels[gid]
        mixed += len(labels[gid]) > 1
        finishes = planned.get(gid)
        source = "its tasks' planned finishes"
        if not finishes:
            unlinked += 1
            finishes = [datetime.combine(d, time(), LOCAL_TZ) for d in log_finishes[gid]]
            source = "the log's task finishes (the element is linked to no dated task)"
        if not finishes:
            raise ValueError(f"{path}: element {gid} has no task finish date in the log and is "
                             "linked to no dated task; its finish cannot be derived")
        if late:
            finish = max(finishes) + timedelta(days=1)
            rule = "one day after the latest of"
        else:
            finish = min(finishes)
            rule = "the earliest of"
        label = "Too late" if late else "On time"
        instant = finish.astimezone(LOCAL_TZ).isoformat()   # the same text whatever the session
        report = {"elements": [gid], "status": "done", "actual_finish": instant,
                  "reported_at": instant,
                  "note": f"event log: {label}; actual finish derived from the label as {rule} "
                          f"{source}"}
        digest = hashlib.sha256(repr(sorted(report.items())).encode("utf-8")).hexdigest()[:32]
        report["client_id"] = f"eventlog:{digest}"
        reports.append(report)
    if mixed:
        logger.warning("%s: %d element(s) are both on time and too late; taken as too late",
                       path, mixed)
    if unlinked:
        logger.warning("%s: %d element(s) are linked to no dated task of %s; their finish is "
                       "derived from the log's own dates", path, unlinked, project_code)
    return reports


def _read(path: Path) -> tuple[dict[str, set[str]], dict[str, list[date]]]:
    raw = path.read_text(encoding="utf-8-sig")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(raw[:8192],
                                                                       delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(raw), dialect=dialect)
    fields = {(f or "").strip().casefold(): f for f in reader.fieldnames or ()}
    guid_col = next((fields[n] for n in _GUID_COLUMNS if n in fields), None)
    finish_col = next((fields[n] for n in _FINISH_COLUMNS if n in fields), None)
    label_col = fields.get(LABEL_COLUMN)
    if guid_col is None or label_col is None:
        raise ValueError(f"{path}: an event log needs a GUID column and an 'Element on time or "
                         f"not' column; found {', '.join(reader.fieldnames or ())}")
    labels: dict[str, set[str]] = defaultdict(set)
    finishes: dict[str, list[date]] = defaultdict(list)
    for line, row in enumerate(reader, start=2):
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        gid = (row.get(guid_col) or "").strip()
        label = (row.get(label_col) or "").strip().casefold()
        if not gid:
            raise ValueError(f"{path}, line {line}: no element GUID")
        if label not in (ON_TIME, TOO_LATE):
            raise ValueError(f"{path}, line {line}: label {row.get(label_col)!r} is neither "
                             "'On time' nor 'Too late'")
        labels[gid].add(label)
        day = _day(row.get(finish_col) or "") if finish_col else None
        if day is not None:
            finishes[gid].append(day)
    return dict(labels), finishes


def _day(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None
