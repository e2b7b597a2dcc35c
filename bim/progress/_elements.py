"""Elements at a status date: late elements per task, and each element's own 4D status.

The rules are those of docs/progress.md ("Elements"):

* an element's *finish* is the instant it was reported done (the ``actual_finish``, else the
  ``reported_at``, of its latest 100 % element report at or before D);
* for a task whose earned value comes from task-level reports, its elements follow the task: they
  are all late when the task is ``late_finish`` or ``done_late``;
* otherwise an element of a task is *late* when it was finished on a later calendar day than the
  task's planned finish, or is not finished and the planned finish has passed (D ≥ finish);
* an element's own status applies the task status rules to the element: its planned window spans
  the leaf tasks it is linked to (outputs, else any link), its earned value is the latest of its
  own element report and those tasks' task-level reports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

__all__ = ["element_statuses", "late_element_counts"]

LATE = ("late_finish", "done_late")


def _done_at(rep: tuple | None) -> datetime | None:
    """The finish instant of an element whose latest report says 100 %, else None."""
    if rep is None or rep[1] < 100:
        return None
    return rep[3]


def late_element_counts(leaves: list[dict], links: dict[int, list[tuple[int, tuple]]],
                        elem_rep: dict[int, tuple], cut: datetime,
                        day: Callable[[datetime | None], date | None]) -> set[int]:
    """Set ``late_element_count`` on every leaf task row (its ``status`` must be set); return the
    ids of the elements late for any task (the report groups them by storey and class)."""
    late_ids: set[int] = set()
    for t in leaves:
        linked = links.get(t["id"], [])
        if t.get("source") == "task":
            late = [e for e, _ in linked] if t["status"] in LATE else []
        else:
            finish = t["planned_finish"]
            due = day(finish)
            late = []
            for element_id, _ in linked:
                done = _done_at(elem_rep.get(element_id))
                if done is not None:
                    if due is not None and day(done) > due:           # type: ignore[operator]
                        late.append(element_id)
                elif finish is not None and cut >= finish:
                    late.append(element_id)
        t["late_element_count"] = len(late)
        late_ids.update(late)
    return late_ids


def element_statuses(leaves: list[dict], element_tasks: dict[int, list[tuple[int, str]]],
                     elem_rep: dict[int, tuple], task_rep: dict[int, tuple],
                     task_finish: dict[int, datetime], cut: datetime,
                     status: Callable[..., str], planned: Callable[..., float],
                     day: Callable[[datetime | None], date | None]) -> dict[int, dict[str, Any]]:
    """``{element_id: {planned_percent, reported_percent, status}}`` for every linked element.

    ``element_tasks`` maps an element to its (leaf task id, relation) links; ``status`` and
    ``planned`` are the task rules of :mod:`bim.progress.compute`, so elements and tasks agree.
    """
    by_id = {t["id"]: t for t in leaves}
    out: dict[int, dict[str, Any]] = {}
    for element_id, pairs in element_tasks.items():
        outputs = [by_id[tid] for tid, rel in pairs if rel == "output" and tid in by_id]
        tasks = outputs or [by_id[tid] for tid, _ in pairs if tid in by_id]
        if not tasks:
            continue
        starts = [t["planned_start"] for t in tasks if t["planned_start"] is not None]
        finishes = [t["planned_finish"] for t in tasks if t["planned_finish"] is not None]
        start, finish = (min(starts) if starts else None), (max(finishes) if finishes else None)
        # The latest report wins: the element's own, or a task-level one of its tasks.
        own = elem_rep.get(element_id)
        ev, when, done = 0.0, None, None
        if own is not None:
            ev, when, done = own[1] / 100.0, own[2], _done_at(own)
        for t in tasks:
            rep = task_rep.get(t["id"])
            if rep is not None and (when is None or rep[2] > when):
                ev, when = rep[1] / 100.0, rep[2]
                done = task_finish.get(t["id"]) if rep[1] >= 100 else None
        pv = planned(cut, start, finish, tasks[0].get("wt"))
        done_day, due_day = day(done), day(finish)
        late = done_day is not None and due_day is not None and done_day > due_day
        out[element_id] = {"planned_percent": 100 * pv, "reported_percent": 100 * ev,
                           "status": status(ev, pv, late, cut, start, finish)}
    return out
