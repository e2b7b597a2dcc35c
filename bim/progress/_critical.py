"""Critical tasks from the predecessors: the driving path to the project's planned finish.

docs/progress.md ("Critical"): the leaf tasks that finish last are critical; walking back, a
predecessor is critical when its link drives a critical successor, i.e. leaves it less than one
working day of slack (one calendar day where the schedule has no work calendar):

* FS: successor start − (predecessor finish + lag);  SS: successor start − (predecessor start + lag);
* FF: successor finish − (predecessor finish + lag); SF: successor finish − (predecessor start + lag).

A summary task is critical when one of its leaves is.  This is the "longest path" view of a
schedule whose dates were already computed by the planning tool; it needs no float calculation.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import psycopg

__all__ = ["critical_tasks"]

_LINKS = """
    SELECT d.predecessor_id, d.successor_id, d.kind, d.lag_days
    FROM sitewatch.task_dependency d JOIN sitewatch.task t ON t.id = d.successor_id
    JOIN sitewatch.schedule s ON s.id = t.schedule_id
    WHERE s.model_id = %s
"""
SLACK_DAYS = 1.0


def critical_tasks(conn: psycopg.Connection, model: int, leaves: dict[int, dict]) -> set[int]:
    """Ids of the critical leaf tasks among ``leaves`` (rows with planned dates and ``wt``)."""
    dated = {tid: t for tid, t in leaves.items()
             if t["planned_start"] is not None and t["planned_finish"] is not None}
    if not dated:
        return set()
    preds: dict[int, list[tuple[int, str, float]]] = defaultdict(list)
    for pred, succ, kind, lag in conn.execute(_LINKS, (model,)).fetchall():
        if pred in dated and succ in dated:
            preds[succ].append((pred, kind, lag or 0.0))
    last = max(t["planned_finish"] for t in dated.values())
    stack = [tid for tid, t in dated.items() if t["planned_finish"] >= last - timedelta(hours=1)]
    critical: set[int] = set()
    while stack:
        tid = stack.pop()
        if tid in critical:
            continue
        critical.add(tid)
        succ = dated[tid]
        wt = succ["wt"]
        for pid, kind, lag in preds.get(tid, ()):
            pred = dated[pid]
            src = pred["planned_start"] if kind in ("SS", "SF") else pred["planned_finish"]
            dst = succ["planned_start"] if kind in ("FS", "SS") else succ["planned_finish"]
            slack = wt.days(dst) - wt.days(src) - lag
            if slack < SLACK_DAYS:
                stack.append(pid)
    return critical
