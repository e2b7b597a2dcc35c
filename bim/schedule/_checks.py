"""Checks every schedule source goes through: sequence cycles, tasks without dates, stray links."""

from __future__ import annotations

from bim.schedule.find_cycles import find_cycles
from bim.schedule.types import ScheduleData, Task

_SHOW = 5  # names shown in one warning


def _label(task: Task | None, key: str) -> str:
    if task is None:
        return repr(key)
    return repr(task.identification or task.name or key)


def check_schedule(data: ScheduleData) -> None:
    """Drop links to unknown tasks and duplicate dependencies; warn about cycles and dateless tasks.

    Cycles are reported, not broken: the dependencies are kept as the source has them.
    """
    by_key = {t.key: t for t in data.tasks}
    kept, seen, dropped = [], set(), 0
    for d in data.dependencies:
        pair = (d.predecessor_key, d.successor_key)
        if d.predecessor_key not in by_key or d.successor_key not in by_key:
            dropped += 1
            continue
        if pair in seen:
            data.warnings.append(f"dependency {_label(by_key[pair[0]], pair[0])} → "
                                 f"{_label(by_key[pair[1]], pair[1])} is given twice; first kept")
            continue
        seen.add(pair)
        kept.append(d)
    if dropped:
        data.warnings.append(f"{dropped} dependencies name tasks that are not in the schedule; skipped")
    data.dependencies = kept
    data.task_elements = [te for te in data.task_elements if te.task_key in by_key]

    for cycle in find_cycles(data.dependencies):
        names = " → ".join(_label(by_key.get(k), k) for k in cycle[:8])
        more = f" … ({len(cycle)} tasks)" if len(cycle) > 8 else ""
        data.warnings.append(f"dependency cycle: {names}{more} → back to the first; "
                             "the schedule cannot be computed from these links (kept as given)")

    dateless = [t for t in data.tasks if t.planned_start is None and t.planned_finish is None]
    if dateless:
        shown = ", ".join(_label(t, t.key) for t in dateless[:_SHOW])
        more = ", …" if len(dateless) > _SHOW else ""
        data.warnings.append(f"{len(dateless)} task(s) have no dates: {shown}{more}")
