"""Planned vs earned at a status date, with exactly the formulas of docs/progress.md."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from bim.progress._project import TASKS_SQL, calendars, current_model, project_id
from bim.progress._worktime import WorkTime

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
DAY = 86400.0
QUANTITY_KEYS = ("volume", "area", "length")
STATUS_COLOURS = {
    "done": "#2e7d32", "done_late": "#6a1b9a", "late_finish": "#b71c1c",
    "not_started": "#9e9e9e", "late_start": "#ef6c00", "behind": "#e53935",
    "ahead": "#1e88e5", "on_time": "#43a047",
}

_TASK_REPORTS = """
    SELECT DISTINCT ON (task_id) task_id, percent_complete, reported_at
    FROM sitewatch.progress_report
    WHERE project_id = %(p)s AND task_id IS NOT NULL AND reported_at < %(cut)s
    ORDER BY task_id, reported_at DESC, received_at DESC, id DESC
"""
_TASK_FINISH = """
    SELECT task_id, min(coalesce(actual_finish, reported_at))
    FROM sitewatch.progress_report
    WHERE project_id = %(p)s AND task_id IS NOT NULL AND reported_at < %(cut)s
      AND percent_complete >= 100
    GROUP BY task_id
"""
_ELEMENT_REPORTS = """
    SELECT DISTINCT ON (pe.element_id) pe.element_id, pe.percent_complete, pe.reported_at,
           coalesce(r.actual_finish, r.reported_at)
    FROM sitewatch.progress_report_element pe
    JOIN sitewatch.progress_report r ON r.id = pe.report_id
    WHERE r.project_id = %(p)s AND pe.reported_at < %(cut)s
    ORDER BY pe.element_id, pe.reported_at DESC, pe.report_id DESC
"""
_LINKS = """
    SELECT DISTINCT te.task_id, te.element_id, e.quantities
    FROM sitewatch.task_element te JOIN sitewatch.bim_element e ON e.id = te.element_id
    WHERE e.model_id = %s
"""


def _days(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds() / DAY


def planned_fraction(cut: datetime, start: datetime | None, finish: datetime | None,
                     wt: WorkTime | None = None) -> float:
    """PV_t(D) = clamp((D − start) / (finish − start), 0, 1); a milestone is 0 or 1."""
    if start is None or finish is None:
        return 0.0
    wt = wt or WorkTime()
    span = wt.days(finish) - wt.days(start)
    if span <= 0:
        return 1.0 if cut >= start else 0.0
    return min(max((wt.days(cut) - wt.days(start)) / span, 0.0), 1.0)


def _quantity_weights(links: list[tuple[int, dict]]) -> dict[int, float]:
    """Element weights for a task: by the first quantity every element has, else 1 each."""
    for key in QUANTITY_KEYS:
        values: dict[int, Any] = {eid: (q or {}).get(key) for eid, q in links}
        if all(isinstance(v, int | float) and v > 0 for v in values.values()):
            return {eid: float(v) for eid, v in values.items()}
    return {eid: 1.0 for eid, _ in links}


def _status(ev: float, pv: float, done_late: bool, cut: datetime,
            start: datetime | None, finish: datetime | None, tol: float) -> str:
    if ev >= 1.0 - 1e-9:
        return "done_late" if done_late else "done"
    if finish is not None and cut >= finish:
        return "late_finish"
    if start is not None and cut <= start and ev <= 0:
        return "not_started"
    if start is not None and cut > start and ev <= 0:
        return "late_start"
    if ev < pv - tol:
        return "behind"
    if ev > pv + tol:
        return "ahead"
    return "on_time"


def _day(value: datetime | None) -> date | None:
    return value.astimezone(LOCAL_TZ).date() if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(LOCAL_TZ).isoformat() if value is not None else None


def _earned(conn: psycopg.Connection, pid: int, model: int, cut: datetime,
            leaves: set[int]) -> dict[int, dict]:
    """EV_t, whether anything was reported, and the finish instant when done, per leaf task."""
    params = {"p": pid, "cut": cut}
    task_rep = {r[0]: r for r in conn.execute(_TASK_REPORTS, params).fetchall()}
    task_fin: dict[int, datetime] = dict(conn.execute(_TASK_FINISH, params).fetchall())
    elem_rep = {r[0]: r for r in conn.execute(_ELEMENT_REPORTS, params).fetchall()}
    links: dict[int, list[tuple[int, dict]]] = defaultdict(list)
    for task_id, element_id, quantities in conn.execute(_LINKS, (model,)).fetchall():
        links[task_id].append((element_id, quantities))
    out: dict[int, dict] = {}
    for tid in leaves:
        linked = links.get(tid, [])
        entry: dict[str, Any] = {"ev": 0.0, "reported": False, "finish": None, "elements": len(linked),
                 "elements_done": 0, "source": None}
        reported_els = [elem_rep[e] for e, _ in linked if e in elem_rep]
        task_r = task_rep.get(tid)
        el_latest = max((r[2] for r in reported_els), default=None)
        done_els = [e for e, _ in linked if e in elem_rep and elem_rep[e][1] >= 100]
        entry["elements_done"] = len(done_els)
        if task_r is not None and (el_latest is None or task_r[2] >= el_latest):
            entry.update(ev=task_r[1] / 100.0, reported=True, finish=task_fin.get(tid),
                         source="task")
        elif el_latest is not None:
            weights = _quantity_weights(linked)
            total = sum(weights.values())
            ev = sum(weights[e] for e in done_els) / total if total else 0.0
            finish = max(elem_rep[e][3] for e in done_els) if done_els else None
            entry.update(ev=ev, reported=True, finish=finish, source="elements")
        out[tid] = entry
    return out


def _earned_schedule(leaf_rows: list[dict], ev: float, cut: datetime) -> dict[str, Any]:
    starts = [t["planned_start"] for t in leaf_rows if t["planned_start"] is not None]
    finishes = [t["planned_finish"] for t in leaf_rows if t["planned_finish"] is not None]
    if not starts or not finishes:
        return {}
    s, f = min(starts), max(finishes)
    pd = _days(f, s)
    weighted = [t for t in leaf_rows if t["weight"] > 0]
    out: dict[str, Any] = {"planned_start": _iso(s), "planned_finish": _iso(f),
                           "planned_duration": pd, "at": _days(cut, s)}
    if not weighted:
        return out
    k_max = math.ceil(pd - 1e-9)
    instants = [s + timedelta(days=k) for k in range(k_max + 1)]
    groups: dict[int, list[dict]] = defaultdict(list)
    for t in weighted:
        groups[id(t["wt"])].append(t)
    curve = np.zeros(k_max + 1)
    for group in groups.values():
        wt = group[0]["wt"]
        at_k = np.array([wt.days(i) for i in instants])
        w = np.array([t["weight"] for t in group])
        st = np.array([wt.days(t["planned_start"]) for t in group])
        curve += np.clip((at_k[:, None] - st[None, :]) / w[None, :], 0.0, 1.0) @ w
    curve /= sum(t["weight"] for t in weighted)
    curve[-1] = 1.0
    below = np.nonzero(curve <= ev + 1e-12)[0]
    c = int(below[-1]) if len(below) else 0
    if c >= k_max:
        es = pd
    else:
        step = curve[c + 1] - curve[c]
        es = c + ((ev - curve[c]) / step if step > 0 else 0.0)
    at = out["at"]
    spi_t = es / at if at > 0 else None
    out.update(es=es, sv_t=es - at, spi_t=spi_t,
               forecast_finish=_iso(s + timedelta(days=pd / spi_t)) if spi_t else None,
               curve=[float(v) for v in curve])
    return out


def compute(conn: psycopg.Connection, project_code: str, status_date: date, *,
            tolerance: float = 10) -> dict:
    """Per task PV_t, EV_t, status and colour; the project's PV, EV, SV, SPI and earned schedule."""
    pid = project_id(conn, project_code)
    cut = datetime.combine(status_date + timedelta(days=1), time(), LOCAL_TZ)
    tol = tolerance / 100.0
    result: dict[str, Any] = {"project": project_code, "status_date": status_date.isoformat(),
                              "tolerance": tolerance, "model_id": None, "tasks": [],
                              "summary": {"pv": None, "ev": None, "sv": None, "spi": None}}
    model = current_model(conn, pid)
    if model is None:
        return result
    result["model_id"] = model
    cols = ("id", "parent_id", "identification", "source_id", "name", "is_milestone",
            "planned_start", "planned_finish", "schedule_id")
    tasks = [dict(zip(cols, r)) for r in conn.execute(TASKS_SQL, (model,)).fetchall()]
    by_id = {t["id"]: t for t in tasks}
    children: dict[int, list[int]] = defaultdict(list)
    for t in tasks:
        if t["parent_id"] in by_id:
            children[t["parent_id"]].append(t["id"])
    leaves = {t["id"] for t in tasks if t["id"] not in children}
    worktimes = {sid: WorkTime(cal) for sid, cal in calendars(conn, model).items()}
    earned = _earned(conn, pid, model, cut, leaves)

    for t in tasks:
        if t["id"] not in leaves:
            continue
        s, f = t["planned_start"], t["planned_finish"]
        t["wt"] = wt = worktimes.get(t["schedule_id"]) or WorkTime()
        span = wt.days(f) - wt.days(s) if s is not None and f is not None else 0.0
        t["weight"] = 0.0 if t["is_milestone"] else max(span, 0.0)
        t["pv"] = planned_fraction(cut, s, f, wt)
        e = earned[t["id"]]
        t["ev"], t["reported"] = e["ev"], e["reported"]
        t["element_count"], t["elements_done"] = e["elements"], e["elements_done"]
        fin_day, due_day = _day(e["finish"]), _day(f)
        late = fin_day is not None and due_day is not None and fin_day > due_day
        t["status"] = _status(t["ev"], t["pv"], late, cut, s, f, tol)

    def leaf_descendants(tid: int) -> list[dict]:
        stack, found = list(children[tid]), []
        while stack:
            c = stack.pop()
            if c in leaves:
                found.append(by_id[c])
            stack.extend(children.get(c, []))
        return found

    for t in tasks:
        if t["id"] in leaves:
            continue
        kids = leaf_descendants(t["id"])
        total = sum(k["weight"] for k in kids)
        if total > 0:
            t["pv"] = sum(k["weight"] * k["pv"] for k in kids) / total
            t["ev"] = sum(k["weight"] * k["ev"] for k in kids) / total
        else:
            t["pv"] = sum(k["pv"] for k in kids) / len(kids) if kids else 0.0
            t["ev"] = sum(k["ev"] for k in kids) / len(kids) if kids else 0.0
        t["weight"] = total
        t["reported"] = any(k["reported"] for k in kids)
        t["element_count"] = sum(k["element_count"] for k in kids)
        t["elements_done"] = sum(k["elements_done"] for k in kids)
        if kids and all(k["status"] in ("done", "done_late") for k in kids):
            t["status"] = "done_late" if any(k["status"] == "done_late" for k in kids) else "done"
        else:
            s = t["planned_start"] or min((k["planned_start"] for k in kids
                                           if k["planned_start"]), default=None)
            f = t["planned_finish"] or max((k["planned_finish"] for k in kids
                                            if k["planned_finish"]), default=None)
            t["status"] = _status(min(t["ev"], 1 - 1e-6), t["pv"], False,
                                  cut, s, f, tol)

    for t in tasks:
        result["tasks"].append({
            "id": t["id"], "task_id": t["identification"], "global_id": t["source_id"],
            "name": t["name"], "parent_id": t["parent_id"],
            "wbs_parent": by_id[t["parent_id"]]["identification"] if t["parent_id"] in by_id
            else None, "is_summary": t["id"] not in leaves,
            "is_milestone": t["is_milestone"], "planned_start": _iso(t["planned_start"]),
            "planned_finish": _iso(t["planned_finish"]), "weight": t["weight"],
            "pv": t["pv"], "ev": t["ev"], "planned_percent": 100 * t["pv"],
            "reported_percent": 100 * t["ev"], "variance": 100 * (t["ev"] - t["pv"]),
            "status": t["status"], "colour": STATUS_COLOURS[t["status"]],
            "element_count": t["element_count"], "done_element_count": t["elements_done"]})

    leaf_rows = [t for t in tasks if t["id"] in leaves]
    total = sum(t["weight"] for t in leaf_rows)
    summary = result["summary"]
    if total > 0:
        pv = sum(t["weight"] * t["pv"] for t in leaf_rows) / total
        ev = sum(t["weight"] * t["ev"] for t in leaf_rows) / total
        summary.update(pv=pv, ev=ev, sv=ev - pv, spi=ev / pv if pv > 0 else None)
        summary.update(_earned_schedule(leaf_rows, ev, cut))
    counts: dict[str, int] = defaultdict(int)
    for t in leaf_rows:
        counts[t["status"]] += 1
    summary["status_counts"] = dict(counts)
    card = conn.execute(
        "SELECT card FROM sitewatch.project_card_check WHERE project_id = %s AND check_date <= %s"
        " ORDER BY check_date DESC LIMIT 1", (pid, status_date)).fetchone()
    summary["card"] = card[0] if card else None
    return result
