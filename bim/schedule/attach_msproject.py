"""Attach an MS Project (MSPDI) schedule to a model already loaded."""

from __future__ import annotations

from datetime import tzinfo
from os import PathLike
from pathlib import Path

import psycopg

from bim.schedule._time import DEFAULT_TZ
from bim.schedule.read_msproject import read_msproject
from bim.schedule.read_task_mapping import read_task_mapping
from bim.schedule.store_schedule import store_schedule

__all__ = ["attach_msproject"]


def attach_msproject(conn: psycopg.Connection, model_id: int, xml_path: str | PathLike, *,
                     mapping_csv: str | PathLike | None = None, guid_field: str | None = None,
                     tz: tzinfo = DEFAULT_TZ) -> dict:
    """Read an MSPDI file and store it as a schedule of model ``model_id``, in one transaction.

    Tasks are linked to the model's elements by GlobalIds held in a task field (``guid_field``,
    or a field whose alias is GlobalId/IfcGUID/GUID) and/or by ``mapping_csv`` (see
    :func:`bim.schedule.read_task_mapping`).  Attaching the same project again replaces the
    earlier copy (same model, source ``msproject``, same project name or GUID).

    Parameters
    ----------
    conn : psycopg.Connection
    model_id : int
    xml_path : path
    mapping_csv : path, optional
    guid_field : str, optional
    tz : tzinfo
        Zone of the file's local times (default Asia/Shanghai).

    Returns
    -------
    dict
        Counts and warnings as :func:`store_schedule` gives them, plus ``"replaced"`` (schedules
        removed first).

    Raises
    ------
    LookupError
        No model ``model_id``.
    ValueError
        The XML is not MSPDI, or the CSV lacks the columns it needs.
    """
    data = read_msproject(Path(xml_path), guid_field=guid_field, tz=tz)
    if not data.tasks:
        raise ValueError(f"{xml_path}: no tasks (is this an MS Project XML file?)")
    if mapping_csv is not None:
        data.task_elements += read_task_mapping(Path(mapping_csv), data.tasks, warnings=data.warnings)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM sitewatch.bim_model WHERE id = %s FOR UPDATE",
                        (model_id,)).fetchone() is None:
            raise LookupError(f"no BIM model with id {model_id}")
        element_ids: dict[str, int] = dict(conn.execute(
            "SELECT global_id, id FROM sitewatch.bim_element WHERE model_id = %s", (model_id,)
        ).fetchall())
        replaced = conn.execute(
            "DELETE FROM sitewatch.schedule WHERE model_id = %s AND source = 'msproject' "
            "AND source_id IS NOT DISTINCT FROM %s",
            (model_id, data.schedules[0].source_id)).rowcount
        counts = store_schedule(conn, model_id, data, element_ids)
    return {**counts, "replaced": replaced}
