"""4D status of a model's tasks or elements at a date, for the OGC feeds and the map.

The numbers are those of :func:`bim.progress.compute` (docs/progress.md): a task row's planned %,
reported %, status and colour; an element's from the element rules.  Only a project's current
model (its newest ``done`` version) has progress; the tasks of baseline or actual schedules and
the items of older versions get no status.

Results are kept per (model, date) in a small in-process cache, checked against a fingerprint of
what they depend on (the project's current model, its reports, the model's tasks and links), so a
client paging through a large model computes it once and a new report is seen at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import date

import psycopg

from bim.progress.compute import STATUS_COLOURS, compute

__all__ = ["status_at"]

CACHE_SIZE = 64
_cache: OrderedDict[tuple, dict[str, tuple]] = OrderedDict()
_lock = threading.Lock()

_MODELS = """
    SELECT m.id, p.code, m.id = (SELECT c.id FROM sitewatch.bim_model c
                                 WHERE c.project_id = m.project_id AND c.status = 'done'
                                 ORDER BY c.version DESC LIMIT 1),
           (SELECT coalesce(max(r.id), 0) FROM sitewatch.progress_report r
            WHERE r.project_id = m.project_id),
           (SELECT count(*) FROM sitewatch.progress_report r WHERE r.project_id = m.project_id),
           (SELECT coalesce(max(t.id), 0) || ':' || count(*) FROM sitewatch.task t
            JOIN sitewatch.schedule s ON s.id = t.schedule_id WHERE s.model_id = m.id),
           (SELECT count(*) FROM sitewatch.task_element te
            JOIN sitewatch.bim_element e ON e.id = te.element_id WHERE e.model_id = m.id)
    FROM sitewatch.bim_model m JOIN sitewatch.project p ON p.id = m.project_id
    WHERE m.id = ANY(%s)
"""


def _model_status(conn: psycopg.Connection, model: int, code: str, day: date,
                  kind: str) -> dict[str, tuple]:
    result = compute(conn, code, day, elements=kind == "element")
    if kind == "task":
        return {str(t["id"]): (t["planned_percent"], t["reported_percent"], t["status"],
                               t["colour"]) for t in result["tasks"]}
    gids = dict(conn.execute("SELECT id, global_id FROM sitewatch.bim_element WHERE model_id = %s",
                             (model,)).fetchall())
    return {f"{model}:{gids[eid]}": (v["planned_percent"], v["reported_percent"], v["status"],
                                     STATUS_COLOURS[v["status"]])
            for eid, v in result["elements"].items() if eid in gids}


def status_at(conn: psycopg.Connection, models: Iterable[int], day: date, *,
              kind: str) -> dict[str, tuple[float, float, str, str]]:
    """``{feature id: (planned %, reported %, status, colour)}`` for the ``models`` at ``day``.

    Parameters
    ----------
    conn : psycopg.Connection
    models : iterable of int
        BIM model ids.
    day : date
        The status date (a calendar day, Asia/Shanghai).
    kind : {"task", "element"}
        Feature ids are task ids (``schedule-tasks``) or ``model_id:GlobalId`` (``bim-elements``).

    Returns
    -------
    dict
        Items without a status are absent.
    """
    if kind not in ("task", "element"):
        raise ValueError(f"kind must be task or element, not {kind!r}")
    out: dict[str, tuple] = {}
    for model, code, current, *fingerprint in conn.execute(_MODELS, (list(models),)).fetchall():
        if not current:
            continue
        key = (model, day, kind, *fingerprint)
        with _lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
        if hit is None:
            hit = _model_status(conn, model, code, day, kind)
            with _lock:
                _cache[key] = hit
                while len(_cache) > CACHE_SIZE:
                    _cache.popitem(last=False)
        out.update(hit)
    return out
