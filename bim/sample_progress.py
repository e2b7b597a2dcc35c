"""Site progress for the sample city's BIM project, so the map and the reports tell a story.

The sample model's schedule (sample_ifc/) ran from 2022 to 2025.  These reports say how the site
went, deterministically: each leaf task is reported half done mid-way and done at its planned
finish, some a few days to a few weeks late; every third task with elements is reported element
by element instead; the last eighth of the work (by planned finish) was never reported, so it is
overdue today.  The reports go through :func:`bim.progress.record_reports` like any site app's,
and are idempotent (loading again records nothing new).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import psycopg

from bim.progress import record_reports
from bim.progress._project import TASKS_SQL, current_model, project_id

__all__ = ["load_sample_progress"]

DELAYS_DAYS = (0, 0, 0, 2, 0, 7, 0, 0, 15, 0, 0, 30)   # picked by a hash of the task
UNREPORTED_SHARE = 0.125


def _pick(key: str, options: tuple) -> object:
    return options[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(options)]


def load_sample_progress(conn: psycopg.Connection, project_code: str) -> dict:
    """Record the sample site reports for the project's current model; return record_reports'
    answer (``{"received", "accepted", "duplicates"}``), or ``{"received": 0}`` without a model."""
    model = current_model(conn, project_id(conn, project_code))
    if model is None:
        return {"received": 0}
    rows = conn.execute(TASKS_SQL, (model,)).fetchall()
    parents = {r[1] for r in rows if r[1] is not None}
    leaves = sorted((r for r in rows if r[0] not in parents and r[6] is not None
                     and r[7] is not None), key=lambda r: (r[7], r[0]))
    elements: dict[int, list[str]] = {}
    for task_id, gid in conn.execute(
            "SELECT te.task_id, e.global_id FROM sitewatch.task_element te"
            " JOIN sitewatch.bim_element e ON e.id = te.element_id"
            " WHERE e.model_id = %s AND te.relation = 'output' ORDER BY e.global_id", (model,)):
        elements.setdefault(task_id, []).append(gid)
    reported = leaves[:int(len(leaves) * (1 - UNREPORTED_SHARE))]
    reports: list[dict] = []
    with_elements = 0
    for task_id, _, ident, gid, _, milestone, start, finish, *_ in reported:
        name = ident or gid or str(task_id)
        done = finish + timedelta(days=_pick(name, DELAYS_DAYS))   # type: ignore[arg-type]
        task = gid or ident
        els = elements.get(task_id)
        if els:
            with_elements += 1
        if els and with_elements % 3 == 0:
            reports.append({"client_id": f"sample:{name}:elements", "elements": els,
                            "status": "done", "reported_at": done.isoformat(),
                            "reporter": "示例施工单位", "note": "构件验收 elements accepted"})
            continue
        if not milestone and finish > start:
            reports.append({"client_id": f"sample:{name}:half", "task": task,
                            "percent_complete": 50, "reported_at": (start + (finish - start) / 2)
                            .isoformat(), "reporter": "示例施工单位"})
        reports.append({"client_id": f"sample:{name}:done", "task": task, "status": "done",
                        "actual_start": start.isoformat(), "actual_finish": done.isoformat(),
                        "reported_at": done.isoformat(), "reporter": "示例施工单位"})
    return record_reports(conn, project_code, reports, max_batch=None)
