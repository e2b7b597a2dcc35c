"""Planned vs earned at a status date, with exactly the formulas of docs/progress.md."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from bim.progress._critical import critical_tasks
from bim.progress._elements import element_statuses, late_element_counts
from bim.progress._project import TASKS_SQL, calendars, current_model, project_id
from bim.progress._worktime import WorkTime
from bim.progress.colours import STATUS_COLOURS

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
DAY = 86400.0
QUANTITY_KEYS = ("volume", "area", "length")

# Per task: the latest report at or before the cut, and over all of them the first instant work
# was reported (> 0 %) and the first finish (100 %).  One sort serves the window and DISTINCT ON.
_TASK_REPORTS = """
    SELECT DISTINCT ON (task_id) task_id, percent_complete, reported_at,
           min(coalesce(actual_start, reported_at)) FILTER (WHERE percent_complete > 0) OVER w,
           min(coalesce(actual_finish, reported_at)) FILTER (WHERE percent_complete >= 100) OVER w
    FROM sitewatch.progress_report
    WHERE project_id = %(p)s AND task_id IS NOT NULL AND reported_at < %(cut)s
    WINDOW w AS (PARTITION BY task_id ORDER BY reported_at DESC, received_at DESC, id DESC
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ORDER BY task_id, reported_at DESC, received_at DESC, id DESC
"""
# Per element: the latest element report (with its finish instant) and the first with work.
_ELEMENT_REPORTS = """
    SELECT DISTINCT ON (pe.element_id) pe.element_id, pe.percent_complete, pe.reported_at,
           coalesce(r.actual_finish, r.reported_at),
           min(coalesce(r.actual_start, r.reported_at)) FILTER (WHERE pe.percent_complete > 0)
               OVER w
    FROM sitewatch.progress_report_element pe
    JOIN sitewatch.progress_report r ON r.id = pe.report_id
    WHERE r.project_id = %(p)s AND pe.reported_at < %(cut)s
    WINDOW w AS (PARTITION BY pe.element_id ORDER BY pe.reported_at DESC, pe.report_id DESC
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ORDER BY pe.element_id, pe.reported_at DESC, pe.report_id DESC
"""
_LINKS = """
    SELECT te.task_id, te.element_id, te.relation,
           CASE WHEN jsonb_typeof(e.quantities -> 'volume') = 'number'
                THEN (e.quantities ->> 'volume')::float8 END,
           CASE WHEN jsonb_typeof(e.quantities -> 'area') = 'number'
                THEN (e.quantities ->> 'area')::float8 END,
           CASE WHEN jsonb_typeof(e.quantities -> 'length') = 'number'
                THEN (e.quantities ->> 'length')::float8 END
    FROM sitewatch.task_element te JOIN sitewatch.bim_element e ON e.id = te.element_id
    WHERE e.model_id = %s
"""
_LATE_BY_PLACE = """
    SELECT coalesce(storey, ''), ifc_class, count(*)::int
    FROM sitewatch.bim_element WHERE id = ANY(%s)
    GROUP BY 1, 2 ORDER BY 1, 2
"""
HISTORY_SAMPLES = 24


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


def _quantity_weights(links: list[tuple[int, tuple]]) -> dict[int, float]:
    """Element weights for a task: by the first quantity every element has (QUANTITY_KEYS, in
    that order), else 1 each."""
    for i in range(len(QUANTITY_KEYS)):
        if all(q[i] is not None and q[i] > 0 for _, q in links):
            return {eid: q[i] for eid, q in links}
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


class _Reports:
    """The reports at or before one cut, and the model's task→element links."""

    def __init__(self, conn: psycopg.Connection, pid: int, cut: datetime,
                 links: dict[int, list[tuple[int, tuple]]]) -> None:
        params = {"p": pid, "cut": cut}
        self.task = {r[0]: r for r in conn.execute(_TASK_REPORTS, params).fetchall()}
        self.task_finish: dict[int, datetime] = {t: r[4] for t, r in self.task.items()
                                                 if r[4] is not None}
        self.element = {r[0]: r for r in conn.execute(_ELEMENT_REPORTS, params).fetchall()}
        self.links = links

    def starts(self) -> tuple[dict[int, datetime], dict[int, datetime]]:
        """First instant with work reported (> 0 %), per task and per element."""
        return ({t: r[3] for t, r in self.task.items() if r[3] is not None},
                {e: r[4] for e, r in self.element.items() if r[4] is not None})


def _links(conn: psycopg.Connection, model: int) -> tuple[dict[int, list[tuple[int, tuple]]],
                                                          dict[int, list[tuple[int, str]]]]:
    """Task → [(element, (volume, area, length))] (each element once) and element →
    [(task, relation)]."""
    by_task: dict[int, list[tuple[int, tuple]]] = defaultdict(list)
    by_element: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for task_id, element_id, relation, *quantities in conn.execute(_LINKS, (model,)).fetchall():
        pairs = by_element[element_id]
        if not any(t == task_id for t, _ in pairs):      # linked as output and input: once
            by_task[task_id].append((element_id, tuple(quantities)))
        pairs.append((task_id, relation))
    return by_task, by_element


def _earned(reports: _Reports, leaves: set[int]) -> dict[int, dict]:
    """EV_t, whether anything was reported, and the finish instant when done, per leaf task."""
    elem_rep, task_rep = reports.element, reports.task
    out: dict[int, dict] = {}
    for tid in leaves:
        linked = reports.links.get(tid, [])
        entry: dict[str, Any] = {"ev": 0.0, "reported": False, "finish": None, "elements": len(linked),
                 "elements_done": 0, "source": None}
        reported_els = [elem_rep[e] for e, _ in linked if e in elem_rep]
        task_r = task_rep.get(tid)
        el_latest = max((r[2] for r in reported_els), default=None)
        done_els = [e for e, _ in linked if e in elem_rep and elem_rep[e][1] >= 100]
        entry["elements_done"] = len(done_els)
        if task_r is not None and (el_latest is None or task_r[2] >= el_latest):
            entry.update(ev=task_r[1] / 100.0, reported=True, finish=reports.task_finish.get(tid),
                         source="task")
        elif el_latest is not None:
            weights = _quantity_weights(linked)
            total = sum(weights.values())
            ev = sum(weights[e] for e in done_els) / total if total else 0.0
            finish = max(elem_rep[e][3] for e in done_els) if done_els else None
            entry.update(ev=ev, reported=True, finish=finish, source="elements")
        out[tid] = entry
    return out


def _ramps(at: np.ndarray, start: np.ndarray, finish: np.ndarray) -> np.ndarray:
    """Σ_i w_i·clip((at − start_i) / w_i, 0, 1) = Σ_i [max(at − start_i, 0) − max(at − finish_i, 0)]
    for every ``at``, with w_i = finish_i − start_i: sorted sums, O((n + k) log n)."""
    def above(points: np.ndarray) -> np.ndarray:      # Σ_i max(at − points_i, 0)
        points = np.sort(points)
        sums = np.concatenate(([0.0], np.cumsum(points)))
        n = np.searchsorted(points, at, side="right")
        return n * at - sums[n]
    return above(start) - above(finish)


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
        st = np.array([wt.days(t["planned_start"]) for t in group])
        curve += _ramps(at_k, st, st + np.array([t["weight"] for t in group]))
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


def _days_between(later: datetime | None, earlier: datetime | None) -> float | None:
    return _days(later, earlier) if later is not None and earlier is not None else None


def _actuals(t: dict, e: dict, starts: tuple[dict, dict], cut: datetime) -> None:
    """Actual start/finish of a leaf task and its start/finish variance in calendar days."""
    task_starts, element_starts = starts
    if e["source"] == "task":
        t["actual_start"] = task_starts.get(t["id"])
    elif e["source"] == "elements":
        t["actual_start"] = min((element_starts[el] for el, _ in e["linked"]
                                 if el in element_starts), default=None)
    else:
        t["actual_start"] = None
    t["actual_finish"] = e["finish"] if t["ev"] >= 1.0 - 1e-9 else None
    if t["actual_start"] is None and t["actual_finish"] is not None:
        t["actual_start"] = t["actual_finish"]
    _variances(t, cut)


def _variances(t: dict, cut: datetime) -> None:
    t["start_variance"] = _days_between(t["actual_start"], t["planned_start"])
    if t["actual_finish"] is not None:
        t["finish_variance"] = _days_between(t["actual_finish"], t["planned_finish"])
    elif t["planned_finish"] is not None and cut > t["planned_finish"]:
        t["finish_variance"] = _days(cut, t["planned_finish"])      # still open: growing
    else:
        t["finish_variance"] = None


def _project_values(leaf_rows: list[dict]) -> tuple[float, float] | None:
    total = sum(t["weight"] for t in leaf_rows)
    if total <= 0:
        return None
    return (sum(t["weight"] * t["pv"] for t in leaf_rows) / total,
            sum(t["weight"] * t["ev"] for t in leaf_rows) / total)


def _earned_history(conn: psycopg.Connection, pid: int, leaf_rows: list[dict],
                    links: dict[int, list[tuple[int, tuple]]], summary: dict,
                    status_date: date) -> list[dict]:
    """EV(t) at up to HISTORY_SAMPLES days from the planned start to D (the earned S-curve)."""
    if not summary.get("planned_start") or summary.get("at") is None or summary["at"] <= 0:
        return []
    s = datetime.fromisoformat(summary["planned_start"])
    span = min(summary["at"], summary["planned_duration"] + 365)
    steps = min(HISTORY_SAMPLES, max(1, math.ceil(span)))
    total = sum(t["weight"] for t in leaf_rows)
    leaves = {t["id"] for t in leaf_rows}
    out = []
    for i in range(1, steps + 1):
        day_k = span * i / steps
        cut = s + timedelta(days=day_k)
        if i == steps:
            cut = datetime.combine(status_date + timedelta(days=1), time(), LOCAL_TZ)
        earned = _earned(_Reports(conn, pid, cut, links), leaves)
        ev = sum(t["weight"] * earned[t["id"]]["ev"] for t in leaf_rows) / total
        out.append({"day": day_k, "date": _day(cut - timedelta(seconds=1)).isoformat(),  # type: ignore[union-attr]
                    "ev": ev})
    return out


def compute(conn: psycopg.Connection, project_code: str, status_date: date, *,
            tolerance: float = 10, elements: bool = False, history: bool = False) -> dict:
    """Per task PV_t, EV_t, status and colour; the project's PV, EV, SV, SPI and earned schedule.

    With ``elements`` the result also has ``"elements"``: {element id: planned %, reported %,
    status} for every element linked to a task; with ``history`` the summary has
    ``"earned_curve"``: EV at up to 24 days between the planned start and D.
    """
    pid = project_id(conn, project_code)
    cut = datetime.combine(status_date + timedelta(days=1), time(), LOCAL_TZ)
    tol = tolerance / 100.0
    result: dict[str, Any] = {"project": project_code, "status_date": status_date.isoformat(),
                              "tolerance": tolerance, "model_id": None, "tasks": [],
                              "late_elements": [],
                              "summary": {"pv": None, "ev": None, "sv": None, "spi": None}}
    model = current_model(conn, pid)
    if model is None:
        return result
    result["model_id"] = model
    cols = ("id", "parent_id", "identification", "source_id", "name", "is_milestone",
            "planned_start", "planned_finish", "schedule_id", "baseline_start", "baseline_finish")
    tasks = [dict(zip(cols, r)) for r in conn.execute(TASKS_SQL, (model,)).fetchall()]
    by_id = {t["id"]: t for t in tasks}
    children: dict[int, list[int]] = defaultdict(list)
    for t in tasks:
        if t["parent_id"] in by_id:
            children[t["parent_id"]].append(t["id"])
    leaves = {t["id"] for t in tasks if t["id"] not in children}
    worktimes = {sid: WorkTime(cal) for sid, cal in calendars(conn, model).items()}
    links, element_tasks = _links(conn, model)
    reports = _Reports(conn, pid, cut, links)
    earned = _earned(reports, leaves)
    starts = reports.starts()

    def status(ev: float, pv: float, late: bool, at: datetime, s: datetime | None,
               f: datetime | None) -> str:
        return _status(ev, pv, late, at, s, f, tol)

    for t in tasks:
        if t["id"] not in leaves:
            continue
        s, f = t["planned_start"], t["planned_finish"]
        t["wt"] = wt = worktimes.get(t["schedule_id"]) or WorkTime()
        span = wt.days(f) - wt.days(s) if s is not None and f is not None else 0.0
        t["weight"] = 0.0 if t["is_milestone"] else max(span, 0.0)
        t["pv"] = planned_fraction(cut, s, f, wt)
        e = earned[t["id"]]
        e["linked"] = links.get(t["id"], [])
        t["ev"], t["reported"], t["source"] = e["ev"], e["reported"], e["source"]
        t["element_count"], t["elements_done"] = e["elements"], e["elements_done"]
        fin_day, due_day = _day(e["finish"]), _day(f)
        late = fin_day is not None and due_day is not None and fin_day > due_day
        t["status"] = status(t["ev"], t["pv"], late, cut, s, f)
        _actuals(t, e, starts, cut)
    leaf_rows = [t for t in tasks if t["id"] in leaves]
    late_ids = late_element_counts(leaf_rows, links, reports.element, cut, _day)
    critical = critical_tasks(conn, model, {t["id"]: t for t in leaf_rows})

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
            t["critical"] = t["id"] in critical
            continue
        kids = leaf_descendants(t["id"])
        rolled = _project_values(kids)
        if rolled is not None:
            t["pv"], t["ev"] = rolled
        else:
            t["pv"] = sum(k["pv"] for k in kids) / len(kids) if kids else 0.0
            t["ev"] = sum(k["ev"] for k in kids) / len(kids) if kids else 0.0
        t["weight"] = sum(k["weight"] for k in kids)
        t["reported"] = any(k["reported"] for k in kids)
        for key in ("element_count", "elements_done", "late_element_count"):
            t[key] = sum(k[key] for k in kids)
        t["critical"] = any(k["id"] in critical for k in kids)
        t["actual_start"] = min((k["actual_start"] for k in kids if k["actual_start"]),
                                default=None)
        finishes = [k["actual_finish"] for k in kids]
        t["actual_finish"] = max(finishes) if kids and all(finishes) else None
        _variances(t, cut)
        if kids and all(k["status"] in ("done", "done_late") for k in kids):
            t["status"] = "done_late" if any(k["status"] == "done_late" for k in kids) else "done"
        else:
            s = t["planned_start"] or min((k["planned_start"] for k in kids
                                           if k["planned_start"]), default=None)
            f = t["planned_finish"] or max((k["planned_finish"] for k in kids
                                            if k["planned_finish"]), default=None)
            t["status"] = status(min(t["ev"], 1 - 1e-6), t["pv"], False, cut, s, f)

    for t in tasks:
        result["tasks"].append({
            "id": t["id"], "task_id": t["identification"], "global_id": t["source_id"],
            "name": t["name"], "parent_id": t["parent_id"],
            "wbs_parent": by_id[t["parent_id"]]["identification"] if t["parent_id"] in by_id
            else None, "is_summary": t["id"] not in leaves,
            "is_milestone": t["is_milestone"], "planned_start": _iso(t["planned_start"]),
            "planned_finish": _iso(t["planned_finish"]),
            "baseline_start": _iso(t["baseline_start"]),
            "baseline_finish": _iso(t["baseline_finish"]),
            "actual_start": _iso(t["actual_start"]), "actual_finish": _iso(t["actual_finish"]),
            "weight": t["weight"], "pv": t["pv"], "ev": t["ev"], "planned_percent": 100 * t["pv"],
            "reported_percent": 100 * t["ev"], "variance": 100 * (t["ev"] - t["pv"]),
            "start_variance": t["start_variance"], "finish_variance": t["finish_variance"],
            "status": t["status"], "colour": STATUS_COLOURS[t["status"]],
            "critical": t["critical"], "element_count": t["element_count"],
            "done_element_count": t["elements_done"],
            "late_element_count": t["late_element_count"]})

    summary = result["summary"]
    values = _project_values(leaf_rows)
    if values is not None:
        pv, ev = values
        summary.update(pv=pv, ev=ev, sv=ev - pv, spi=ev / pv if pv > 0 else None)
        summary.update(_earned_schedule(leaf_rows, ev, cut))
        if history:
            summary["earned_curve"] = _earned_history(conn, pid, leaf_rows, links, summary,
                                                      status_date)
    counts: dict[str, int] = defaultdict(int)
    for t in leaf_rows:
        counts[t["status"]] += 1
    summary["status_counts"] = dict(counts)
    card = conn.execute(
        "SELECT card FROM sitewatch.project_card_check WHERE project_id = %s AND check_date <= %s"
        " ORDER BY check_date DESC LIMIT 1", (pid, status_date)).fetchone()
    summary["card"] = card[0] if card else None

    result["late_elements"] = [
        {"storey": storey or None, "ifc_class": cls, "count": n}
        for storey, cls, n in conn.execute(_LATE_BY_PLACE, (list(late_ids),)).fetchall()] \
        if late_ids else []
    if elements:
        result["elements"] = element_statuses(
            leaf_rows, element_tasks, reports.element, reports.task, reports.task_finish, cut,
            status, planned_fraction, _day)
    return result
