"""Actuals from a CSV file as progress reports for ``record_reports``.

Columns (header names, case-insensitive; UTF-8, a BOM is fine): ``task`` (Identification or
GlobalId) or ``element`` / ``global_id`` (one element GlobalId), then any of ``status``,
``percent_complete``, ``actual_start``, ``actual_finish``, ``date`` (= reported_at), ``reporter``,
``note``.  A row with an actual finish and no status/percent is ``done``.  The date reported
defaults to the actual finish, else the actual start.  Each row's client_id is a hash of its
content, so importing the same file twice records nothing new.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

_ALIASES = {"task_id": "task", "identification": "task", "element": "elements",
            "global_id": "elements", "globalid": "elements", "percent": "percent_complete",
            "reported_at": "date"}


def read_actuals_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    reports = []
    for row in rows:
        values = {_ALIASES.get(k.strip().lower(), k.strip().lower()): (v or "").strip()
                  for k, v in row.items() if k}
        values = {k: v for k, v in values.items() if v}
        report: dict = {k: values[k] for k in ("task", "status", "actual_start", "actual_finish",
                                               "reporter", "note") if k in values}
        if "elements" in values:
            report["elements"] = [values["elements"]]
        if "percent_complete" in values:
            try:
                report["percent_complete"] = float(values["percent_complete"].rstrip("%"))
            except ValueError:
                report["percent_complete"] = values["percent_complete"]  # rejected by validation
        if "actual_finish" in report and "status" not in report \
                and "percent_complete" not in report:
            report["status"] = "done"
        reported = values.get("date") or values.get("actual_finish") or values.get("actual_start")
        if reported:
            report["reported_at"] = reported
        digest = hashlib.sha256(repr(sorted(report.items())).encode("utf-8")).hexdigest()[:32]
        report["client_id"] = f"csv:{digest}"
        reports.append(report)
    return reports
