"""Write schedules, tasks, dependencies and task→element links in the caller's transaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from bim.schedule.types import ScheduleData

__all__ = ["store_schedule"]

logger = logging.getLogger(__name__)

_TASK_COLUMNS = ("id", "schedule_id", "parent_id", "source_id", "identification", "name",
                 "is_milestone", "planned_start", "planned_finish", "baseline_start",
                 "baseline_finish", "date_source", "duration_days")
_COPY_TASKS = sql.SQL("COPY sitewatch.task ({}) FROM STDIN").format(
    sql.SQL(", ").join(map(sql.Identifier, _TASK_COLUMNS)))
_SHOW = 5


def store_schedule(conn: psycopg.Connection, model_id: int, data: ScheduleData,
                   element_ids: Mapping[str, int]) -> dict:
    """Insert ``data`` for model ``model_id``; return the counts and warnings.

    Runs in the caller's transaction (a savepoint when one is open), so a model's ingest stays one
    transaction.  Task ids are reserved from the identity sequence first, then tasks, dependencies
    and links go in with ``COPY``.  Links to GlobalIds missing from ``element_ids`` (spatial
    structure such as a storey, products without a stored element) are counted in a warning.

    Parameters
    ----------
    conn : psycopg.Connection
    model_id : int
        ``bim_model.id`` the schedules belong to.
    data : ScheduleData
        From :func:`read_schedule_data` or :func:`read_msproject`.
    element_ids : mapping of str to int
        GlobalId → ``bim_element.id`` of the model.

    Returns
    -------
    dict
        ``{"schedules", "tasks", "milestones", "dependencies", "task_elements", "warnings"}``;
        ``task_elements`` counts the stored links.
    """
    warnings = list(data.warnings)
    with conn.transaction(), conn.cursor() as cur:
        schedule_ids: dict[str, int] = {}
        for s in data.schedules:
            calendar = Jsonb(s.calendar.as_json()) if s.calendar else None
            row = cur.execute(
                "INSERT INTO sitewatch.schedule (model_id, source, source_id, name, purpose, calendar)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (model_id, s.source, s.source_id, s.name, s.purpose, calendar),
            ).fetchone()
            assert row is not None
            schedule_ids[s.key] = row[0]

        tasks = [t for t in data.tasks if t.schedule_key in schedule_ids]
        task_ids: dict[str, int] = {}
        if tasks:
            ids = [r[0] for r in cur.execute(
                "SELECT nextval(pg_get_serial_sequence('sitewatch.task', 'id')) "
                "FROM generate_series(1, %s)", (len(tasks),)).fetchall()]
            task_ids = {t.key: i for t, i in zip(tasks, ids)}
            with cur.copy(_COPY_TASKS) as copy:
                for t in tasks:
                    copy.write_row((
                        task_ids[t.key], schedule_ids[t.schedule_key],
                        task_ids.get(t.parent_key) if t.parent_key else None,
                        t.source_id, t.identification, t.name, t.is_milestone,
                        t.planned_start, t.planned_finish, t.baseline_start, t.baseline_finish,
                        t.date_source, t.duration_days,
                    ))

        deps = [d for d in data.dependencies
                if d.predecessor_key in task_ids and d.successor_key in task_ids]
        if deps:
            with cur.copy("COPY sitewatch.task_dependency (predecessor_id, successor_id, kind, "
                          "lag_days) FROM STDIN") as copy:
                for d in deps:
                    copy.write_row((task_ids[d.predecessor_key], task_ids[d.successor_key], d.kind,
                                    d.lag_days))

        links, seen, missing = [], set(), {}
        for te in data.task_elements:
            task_id = task_ids.get(te.task_key)
            if task_id is None:
                continue
            element_id = element_ids.get(te.global_id)
            if element_id is None:
                missing[te.global_id] = True
                continue
            key = (task_id, element_id, te.relation)
            if key not in seen:
                seen.add(key)
                links.append(key)
        if links:
            with cur.copy("COPY sitewatch.task_element (task_id, element_id, relation) "
                          "FROM STDIN") as copy:
                for link in links:
                    copy.write_row(link)
    if missing:
        shown = ", ".join(list(missing)[:_SHOW]) + (", …" if len(missing) > _SHOW else "")
        warnings.append(f"{len(missing)} GlobalId(s) assigned to tasks are not elements of this "
                        f"model (a storey, a product without geometry, another model); not linked: "
                        f"{shown}")
    counts = {
        "schedules": len(schedule_ids),
        "tasks": len(tasks),
        "milestones": sum(t.is_milestone for t in tasks),
        "dependencies": len(deps),
        "task_elements": len(links),
        "warnings": warnings,
    }
    logger.info("model %s: stored %s", model_id, json.dumps({k: v for k, v in counts.items()
                                                            if k != "warnings"}))
    return counts
