"""Actuals from an MS Project XML (MSPDI) file as task-level progress reports."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime, tzinfo
from os import PathLike
from pathlib import Path

from bim.schedule._time import DEFAULT_TZ, parse_datetime
from bim.schedule.read_msproject import read_msproject

__all__ = ["read_actuals_msproject"]


def read_actuals_msproject(path: str | PathLike, *, tz: tzinfo = DEFAULT_TZ) -> list[dict]:
    """Task-level progress reports, for ``record_reports``, from the actuals of an MSPDI file.

    A report names its task by the task's ``UID``: that is the source id
    :func:`bim.schedule.read_msproject` stores, and ``record_reports`` looks source ids up before
    identifications (a ``WBS`` or ``ID`` such as ``"3"`` can equal another task's ``UID``).
    Only leaf tasks with actuals give a report: an ``ActualStart`` or ``ActualFinish``, or a
    ``PercentComplete`` or ``PhysicalPercentComplete`` above 0.  Summary tasks (rolled up by
    MS Project and by us), null tasks and the project summary task (``UID`` 0) are skipped.

    - A task with an ``ActualFinish`` or 100 % complete is ``done``; otherwise its
      ``percent_complete`` is ``PercentComplete``, or ``PhysicalPercentComplete`` when
      ``PercentComplete`` is absent or 0.
    - ``reported_at`` is the ``ActualFinish`` of a done task, else the project's ``StatusDate``,
      else its ``CurrentDate``, else the task's ``ActualStart``.
    - ``client_id`` is a hash of the report's content, so importing the same file twice records
      nothing new.

    Parameters
    ----------
    path : path
        The MSPDI file.
    tz : tzinfo
        Zone of the file's local times (default Asia/Shanghai, as for the schedule itself).

    Returns
    -------
    list of dict
        Reports in the shape :func:`bim.progress.read_actuals_csv.read_actuals_csv` gives, with
        ISO 8601 instants.

    Raises
    ------
    ValueError
        The file is not XML or not MSPDI.
    """
    path = Path(path)
    leaves = {t.source_id for t in read_msproject(path, tz=tz).tasks if not t.is_summary}
    root = ET.parse(path).getroot()
    prefix = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""

    def text(node: ET.Element, name: str) -> str | None:
        value = node.findtext(prefix + name)
        return value.strip() if value is not None and value.strip() else None

    def instant(node: ET.Element, name: str) -> datetime | None:
        return parse_datetime(text(node, name), tz)

    status_date = instant(root, "StatusDate") or instant(root, "CurrentDate")
    reports = []
    for node in root.iterfind(f"{prefix}Tasks/{prefix}Task"):
        uid = text(node, "UID")
        if uid not in leaves:
            continue
        start, finish = instant(node, "ActualStart"), instant(node, "ActualFinish")
        percent = _percent(text(node, "PercentComplete"))
        if not percent:
            percent = _percent(text(node, "PhysicalPercentComplete"))
        if start is None and finish is None and not percent:
            continue
        report: dict = {"task": uid}
        if finish is not None or percent >= 100:
            report["status"] = "done"
        else:
            report["percent_complete"] = percent
        if start is not None:
            report["actual_start"] = start.isoformat()
        if finish is not None:
            report["actual_finish"] = finish.isoformat()
        reported = finish if report.get("status") == "done" and finish is not None else None
        reported = reported or status_date or start
        if reported is not None:        # else record_reports rejects it: reported_at required
            report["reported_at"] = reported.isoformat()
        digest = hashlib.sha256(repr(sorted(report.items())).encode("utf-8")).hexdigest()[:32]
        report["client_id"] = f"msproject:{digest}"
        reports.append(report)
    return reports


def _percent(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0
