"""The hook the IFC ingest calls inside its per-model transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import ifcopenshell
import psycopg

from bim.schedule.read_schedule_data import read_schedule_data
from bim.schedule.store_schedule import store_schedule

__all__ = ["ingest_schedules"]

logger = logging.getLogger(__name__)

EMPTY = {"schedules": 0, "tasks": 0, "milestones": 0, "dependencies": 0, "task_elements": 0}


def ingest_schedules(conn: psycopg.Connection, model_id: int, ifc_file: ifcopenshell.file,
                     element_ids: Mapping[str, int]) -> dict:
    """Read the 4D schedules of ``ifc_file`` and store them for model ``model_id``.

    Called by the ingest pipeline after the model's elements are written, inside its transaction.
    Bad schedules (dependency cycles, tasks without dates) are stored as they are and reported in
    ``warnings``.  A schedule that cannot be read at all is rolled back to a savepoint and
    reported as a warning too, so the model's elements still load.

    Parameters
    ----------
    conn : psycopg.Connection
        In the ingest's open transaction.
    model_id : int
        ``bim_model.id``.
    ifc_file : ifcopenshell.file
        The opened model (IFC2X3, IFC4, IFC4X3).
    element_ids : mapping of str to int
        GlobalId → ``bim_element.id`` of the elements just stored.

    Returns
    -------
    dict
        ``{"schedules", "tasks", "milestones", "dependencies", "task_elements", "warnings": [...]}``.
    """
    if not ifc_file.by_type("IfcTask"):
        return {**EMPTY, "warnings": []}
    try:
        data = read_schedule_data(ifc_file)
        return store_schedule(conn, model_id, data, element_ids)
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError, ValueError, RuntimeError) as exc:
        # Bad data (ifcopenshell raises RuntimeError on broken attributes).  store_schedule works
        # in a savepoint, so nothing of the schedule is left behind; programming errors propagate.
        logger.exception("model %s: the schedule could not be read", model_id)
        return {**EMPTY, "warnings": [f"the 4D schedule could not be read and was skipped: {exc}"]}
