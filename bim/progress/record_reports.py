"""Record a batch of progress reports: validated whole, idempotent by client_id, one transaction.

A report names a task (``task``: its Identification or GlobalId) or a list of element GlobalIds
(``elements``), and gives ``percent_complete`` (0–100) and/or ``status``.  Every row is checked
before anything is written; any problem rejects the whole batch with ``ValidationFailed`` listing
each (row, field, reason).  Rows whose client_id the project already has are not written again
and are returned as duplicates; concurrent batches are safe (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bim.progress._project import TASKS_SQL, current_model, project_id
from spatial.errors import ValidationFailed

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
STATUSES = {"not_started": 0.0, "in_progress": None, "done": 100.0}
FIELDS = {"client_id", "task", "elements", "percent_complete", "status", "actual_start",
          "actual_finish", "reported_at", "reporter", "note", "photo_sha256"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_STAGE = """
    CREATE TEMP TABLE progress_stage (
        client_id text, task_id bigint, element_ids bigint[], percent_complete double precision,
        status text, actual_start timestamptz, actual_finish timestamptz, reported_at timestamptz,
        reporter text, note text, photo_sha256 text) ON COMMIT DROP
"""
_INSERT = """
    WITH ins AS (
        INSERT INTO sitewatch.progress_report (project_id, client_id, task_id, element_ids,
            percent_complete, status, actual_start, actual_finish, reported_at, reporter, note,
            photo_sha256, token_id)
        SELECT %(project)s, client_id, task_id, element_ids, percent_complete, status, actual_start,
               actual_finish, reported_at, reporter, note, photo_sha256, %(token)s
        FROM progress_stage
        ON CONFLICT (project_id, client_id) DO NOTHING
        RETURNING id, client_id, element_ids, reported_at, percent_complete
    ), el AS (
        INSERT INTO sitewatch.progress_report_element (report_id, element_id, reported_at,
                                                       percent_complete)
        SELECT DISTINCT ins.id, e, ins.reported_at, ins.percent_complete
        FROM ins, unnest(ins.element_ids) AS e
    )
    SELECT client_id FROM ins
"""


def _instant(value: Any) -> datetime:
    """An ISO date or date-time; naive values are Asia/Shanghai local time."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text) if "T" in text or " " in text or len(text) > 10 \
            else datetime.combine(date.fromisoformat(text), time())
    else:
        raise ValueError("must be an ISO 8601 date or date-time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)


def _check_row(i: int, row: Any, tasks: dict[str, int], elements: dict[str, int],
               errors: list[dict]) -> tuple | None:
    def bad(field: str, reason: str) -> None:
        errors.append({"row": i, "field": field, "reason": reason})

    if not isinstance(row, dict):
        bad("", "a report must be a JSON object")
        return None
    before = len(errors)
    for field in sorted(set(row) - FIELDS):
        bad(field, "unknown field")
    client_id = row.get("client_id")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 200:
        bad("client_id", "required: a string of 1 to 200 characters")
    task_id, element_ids = None, None
    has_task, has_elements = row.get("task") is not None, row.get("elements") is not None
    if has_task == has_elements:
        bad("task", "give exactly one of task (Identification or GlobalId) and elements")
    elif has_task:
        task_id = tasks.get(row["task"]) if isinstance(row["task"], str) else None
        if task_id is None:
            bad("task", f"no leaf task {row['task']!r} in the project's current schedule "
                        "(summary tasks roll up their children and take no reports)")
    else:
        gids = row["elements"]
        if not isinstance(gids, list) or not gids or not all(isinstance(g, str) for g in gids):
            bad("elements", "must be a non-empty list of element GlobalIds")
        else:
            unknown = [g for g in gids if g not in elements]
            if unknown:
                bad("elements", f"unknown element GlobalId(s) in the current model: "
                                f"{', '.join(unknown[:5])}")
            else:
                element_ids = [elements[g] for g in gids]
    percent, status = row.get("percent_complete"), row.get("status")
    if status is not None and status not in STATUSES:
        bad("status", f"must be one of {', '.join(STATUSES)}")
    elif percent is not None:
        if isinstance(percent, bool) or not isinstance(percent, int | float) \
                or not 0 <= percent <= 100:
            bad("percent_complete", "must be a number from 0 to 100")
        elif status is not None and STATUSES[status] is not None and STATUSES[status] != percent:
            bad("percent_complete", f"contradicts status {status!r}")
    elif status is None:
        bad("percent_complete", "give percent_complete or status")
    elif STATUSES[status] is None:
        bad("percent_complete", "status 'in_progress' needs a percent_complete")
    else:
        percent = STATUSES[status]
    instants = {}
    for field in ("reported_at", "actual_start", "actual_finish"):
        if row.get(field) is None:
            if field == "reported_at":
                bad(field, "required: an ISO 8601 date-time")
            continue
        try:
            instants[field] = _instant(row[field])
        except (TypeError, ValueError):
            bad(field, "must be an ISO 8601 date or date-time")
    if "actual_start" in instants and "actual_finish" in instants \
            and instants["actual_finish"] < instants["actual_start"]:
        bad("actual_finish", "is before actual_start")
    for field in ("reporter", "note"):
        if row.get(field) is not None and not isinstance(row[field], str):
            bad(field, "must be a string")
    photo = row.get("photo_sha256")
    if photo is not None and not (isinstance(photo, str) and _SHA256.match(photo)):
        bad("photo_sha256", "must be 64 lowercase hex digits")
    if len(errors) > before:
        return None
    assert percent is not None
    return (client_id, task_id, element_ids, float(percent), status,
            instants.get("actual_start"), instants.get("actual_finish"), instants["reported_at"],
            row.get("reporter"), row.get("note"), photo)


def _lookups(conn: psycopg.Connection, pid: int) -> tuple[dict[str, int], dict[str, int]]:
    model = current_model(conn, pid)
    if model is None:
        return {}, {}
    tasks: dict[str, int] = {}
    rows = conn.execute(TASKS_SQL, (model,)).fetchall()
    parents = {row[1] for row in rows if row[1] is not None}
    rows = [row for row in rows if row[0] not in parents]   # summary tasks roll up, not reported
    for row in rows:            # GlobalIds first, so an Identification never hides one
        if row[3]:
            tasks[row[3]] = row[0]
    for row in rows:
        if row[2]:
            tasks.setdefault(row[2], row[0])
    elements: dict[str, int] = dict(conn.execute(
        "SELECT global_id, id FROM sitewatch.bim_element WHERE model_id = %s", (model,)).fetchall())
    return tasks, elements


def _validate(reports: list, tasks: dict[str, int],
              elements: dict[str, int]) -> tuple[list[tuple], list[str]]:
    errors: list[dict] = []
    rows, seen, in_batch_duplicates = [], set(), []
    for i, report in enumerate(reports):
        checked = _check_row(i, report, tasks, elements, errors)
        if checked is None:
            continue
        if checked[0] in seen:          # the same key twice in one batch: the first one counts
            in_batch_duplicates.append(checked[0])
            continue
        seen.add(checked[0])
        rows.append(checked)
    if errors:
        raise ValidationFailed(f"{len({e['row'] for e in errors})} of {len(reports)} report(s) "
                               "are invalid; nothing was recorded", errors)
    return rows, in_batch_duplicates


def record_reports(conn: psycopg.Connection, project_code: str, reports: list[dict], *,
                   token_id: int | None = None, max_batch: int | None = MAX_BATCH) -> dict:
    """Validate and store ``reports`` for the project; return accepted and duplicate client_ids.

    Raises ``ValidationFailed`` (nothing written) when any row is wrong or there are more than
    ``max_batch`` (None: no limit, for a local file import), ``NotFound`` for an unknown project.
    Runs in one transaction (committed at the end when the caller had none open; a savepoint
    inside the caller's transaction otherwise).
    """
    if not isinstance(reports, list):
        raise ValidationFailed("reports must be a list", [{"row": None, "field": "reports",
                                                            "reason": "must be a list"}])
    if max_batch is not None and len(reports) > max_batch:
        raise ValidationFailed(f"at most {max_batch} reports per batch", [
            {"row": None, "field": "reports", "reason": f"{len(reports)} > {max_batch}"}])
    with conn.transaction():
        pid = project_id(conn, project_code)
        tasks, elements = _lookups(conn, pid)
        rows, in_batch_duplicates = _validate(reports, tasks, elements)
        conn.execute("DROP TABLE IF EXISTS pg_temp.progress_stage")
        conn.execute(_STAGE)
        with conn.cursor() as cur:
            with cur.copy("COPY progress_stage FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(_INSERT, {"project": pid, "token": token_id})
            inserted = {r[0] for r in cur.fetchall()}
    duplicates = [r[0] for r in rows if r[0] not in inserted] + in_batch_duplicates
    logger.info("progress for %s: %d accepted, %d duplicates", project_code, len(inserted),
                len(duplicates))
    return {"received": len(reports), "accepted": len(inserted), "duplicates": duplicates}
