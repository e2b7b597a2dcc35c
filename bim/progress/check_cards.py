"""Alert cards (红黄牌) at month ends, with the formulas of docs/progress.md ("Alert cards")."""

from __future__ import annotations

import calendar
import logging
from datetime import date

import psycopg
from psycopg.types.json import Jsonb

from bim.progress._project import project_id
from bim.progress.compute import LOCAL_TZ, compute

logger = logging.getLogger(__name__)
RED_AFTER = 3      # consecutive monthly checks with overdue work
_ROLES = ("construction_unit", "contractor_unit", "supervision_unit")

# A card change to every active webhook subscribed to 'card_changed' whose project / district
# scope matches (migration 0010); the sensors' dispatcher delivers it, signed, with retries.
_ROUTE = """
    INSERT INTO sitewatch.outbox (webhook_id, project_id, check_date, event, route, payload)
    SELECT w.id, p.id, %(day)s, 'card_changed', 'scope', %(payload)s
    FROM sitewatch.webhook w, sitewatch.project p
    WHERE p.id = %(pid)s AND w.active AND w.routing = 'scope' AND 'card_changed' = ANY (w.events)
      AND (w.project_code IS NULL OR w.project_code = p.code)
      AND (w.district_code IS NULL OR w.district_code = p.district_code)
    ON CONFLICT (webhook_id, project_id, check_date, event) WHERE alarm_id IS NULL DO NOTHING
"""


def month_ends(first: date, last: date) -> list[date]:
    """Every month end from the month of ``first`` up to ``last`` (inclusive)."""
    out: list[date] = []
    y, m = first.year, first.month
    while True:
        end = date(y, m, calendar.monthrange(y, m)[1])
        if end > last:
            return out
        out.append(end)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def overdue(result: dict) -> list[str]:
    """Milestones (or leaf tasks, when there is no milestone) due by the date and not done."""
    tasks = [t for t in result["tasks"] if not t["is_summary"]]
    watched = [t for t in tasks if t["is_milestone"]] or tasks
    return [t["task_id"] or str(t["id"]) for t in watched if t["status"] == "late_finish"]


def check_cards(conn: psycopg.Connection, project_code: str, through: date) -> list[dict]:
    """Run the monthly checks not yet run, up to ``through``; return the new check rows.

    Each check is stored; a card change also goes to the outbox for the project's units and the
    district supervisor.  One transaction.
    """
    with conn.transaction():
        pid = project_id(conn, project_code)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('cards'), %s::int)", (pid % 2**31,))
        last = conn.execute(
            "SELECT check_date, card, streak FROM sitewatch.project_card_check"
            " WHERE project_id = %s ORDER BY check_date DESC LIMIT 1", (pid,)).fetchone()
        start = conn.execute(
            "SELECT min(t.planned_start) FROM sitewatch.task t"
            " JOIN sitewatch.schedule s ON s.id = t.schedule_id"
            " JOIN sitewatch.bim_model m ON m.id = s.model_id WHERE m.project_id = %s",
            (pid,)).fetchone()[0]  # type: ignore[index]
        if start is None:
            return []
        first = start.astimezone(LOCAL_TZ).date() if last is None else last[0]
        prev_card, streak = (last[1], last[2]) if last else ("none", 0)
        district, *units = conn.execute(
            "SELECT district_code, construction_unit, contractor_unit, supervision_unit"
            " FROM sitewatch.project WHERE id = %s", (pid,)).fetchone()  # type: ignore[misc]
        out: list[dict] = []
        for day in month_ends(first, through):
            if last is not None and day <= last[0]:
                continue
            late = overdue(compute(conn, project_code, day))
            streak = streak + 1 if late else 0
            card = "none" if not late else ("red" if streak >= RED_AFTER else "yellow")
            changed = card != prev_card
            conn.execute(
                "INSERT INTO sitewatch.project_card_check (project_id, check_date, card, streak,"
                " overdue, changed) VALUES (%s, %s, %s, %s, %s, %s)",
                (pid, day, card, streak, Jsonb(late), changed))
            if changed:
                payload = {"project": project_code, "date": day.isoformat(), "card": card,
                           "previous": prev_card, "overdue": late}
                recipients = [(r, u) for r, u in zip(_ROLES, units) if u]
                recipients.append(("district_supervisor", district))
                for role, who in recipients:
                    conn.execute(
                        "INSERT INTO sitewatch.card_outbox (project_id, check_date, recipient_role,"
                        " recipient, payload) VALUES (%s, %s, %s, %s, %s)",
                        (pid, day, role, who, Jsonb(payload)))
                hook = {"event": "card_changed", **payload, "district_code": district,
                        "recipients": [{"role": r, "id": w} for r, w in recipients]}
                if conn.execute(_ROUTE, {"pid": pid, "day": day, "payload": Jsonb(hook)}).rowcount:
                    conn.execute("SELECT pg_notify('sitewatch_outbox', '')")
            out.append({"date": day.isoformat(), "card": card, "streak": streak,
                        "overdue": late, "changed": changed})
            prev_card = card
    logger.info("cards for %s: %d checks", project_code, len(out))
    return out
