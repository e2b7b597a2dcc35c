"""Which model and tasks of a project progress refers to (docs/progress.md, "Which tasks")."""

from __future__ import annotations

import psycopg

from spatial.errors import NotFound


def project_id(conn: psycopg.Connection, code: str) -> int:
    row = conn.execute("SELECT id FROM sitewatch.project WHERE code = %s", (code,)).fetchone()
    if row is None:
        raise NotFound(f"project {code!r} not found")
    return row[0]


def current_model(conn: psycopg.Connection, pid: int) -> int | None:
    """The project's ``done`` model with the highest version, or None."""
    row = conn.execute(
        "SELECT id FROM sitewatch.bim_model WHERE project_id = %s AND status = 'done'"
        " ORDER BY version DESC LIMIT 1", (pid,)).fetchone()
    return row[0] if row else None


TASKS_SQL = """
    SELECT t.id, t.parent_id, t.identification, t.source_id, t.name, t.is_milestone,
           t.planned_start, t.planned_finish, t.schedule_id, t.baseline_start, t.baseline_finish
    FROM sitewatch.task t JOIN sitewatch.schedule s ON s.id = t.schedule_id
    WHERE s.model_id = %s AND s.purpose IS DISTINCT FROM 'baseline'
      AND s.purpose IS DISTINCT FROM 'actual'
    ORDER BY t.id
"""


def calendars(conn: psycopg.Connection, model: int) -> dict[int, dict | None]:
    """Schedule id → its work calendar (JSON) or None."""
    return dict(conn.execute("SELECT id, calendar FROM sitewatch.schedule WHERE model_id = %s",
                             (model,)).fetchall())
