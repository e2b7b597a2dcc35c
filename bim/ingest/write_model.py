"""Write a parsed model in ONE transaction: elements (COPY), schedule hook, outline, georef, summary.

Nothing of a model is visible until that transaction commits, and it commits only while the
model is still ``parsing`` (a parse that was declared timed out cannot come back as done).
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable

import ifcopenshell
import numpy as np
import psycopg
import shapely
from psycopg import sql

from bim.ingest.parse_model import ParsedModel
from bim.ingest.store_file import store_bytes

__all__ = ["ELEMENT_COLUMNS", "check_distance", "write_model"]

logger = logging.getLogger(__name__)

ELEMENT_COLUMNS = ("model_id", "global_id", "ifc_class", "predefined_type", "name", "type_name",
                   "storey", "material", "psets", "quantities", "quantity_source",
                   "bottom_elevation", "top_elevation", "local_footprint", "footprint", "mesh_index")


def _hex(geoms: list, srid: int | None) -> list[str | None]:
    present = [i for i, g in enumerate(geoms) if g is not None]
    out: list[str | None] = [None] * len(geoms)
    if present:
        arr = np.array([geoms[i] for i in present], dtype=object)
        if srid is not None:
            arr = shapely.set_srid(arr, srid)
        for i, text in zip(present, shapely.to_wkb(arr, hex=True, include_srid=srid is not None)):
            out[i] = text
    return out


def _schedule_hook():
    """``bim.schedule.ingest_schedules`` when the schedule package provides it, else None."""
    try:
        module = importlib.import_module("bim.schedule")
    except ModuleNotFoundError as exc:
        if exc.name in ("bim.schedule", "bim"):
            return None
        raise
    return getattr(module, "ingest_schedules", None)


def check_distance(conn: psycopg.Connection, model_id: int, *, suspect_distance_m: float
                   ) -> tuple[float | None, dict | None]:
    """Distance (m) from the model's outline (or origin) to its project's footprint, and the
    ``georeferencing_suspect`` warning when it is over ``suspect_distance_m``."""
    # Most models lie on their footprint: a planar intersection test answers 0 without the
    # geodesic distance over every vertex of the outline (~10 ms for Office_A).
    row = conn.execute(
        "SELECT CASE WHEN ST_Intersects(g, p.footprint) THEN 0"
        " ELSE ST_Distance(g::geography, p.footprint::geography) END"
        " FROM (SELECT project_id, coalesce(outline, ST_Force2D(origin)) AS g"
        " FROM sitewatch.bim_model WHERE id = %s) m"
        " JOIN sitewatch.project p ON p.id = m.project_id", (model_id,)).fetchone()
    distance = None if row is None or row[0] is None else round(float(row[0]), 1)
    if distance is None or distance <= suspect_distance_m:
        return distance, None
    return distance, {
        "code": "georeferencing_suspect", "distance_m": distance,
        "message": f"georeferencing suspect: the model lies {distance:,.0f} m from the project's "
                   f"footprint (more than {suspect_distance_m:g} m); check its placement"}


def _copy_elements(conn: psycopg.Connection, model_id: int, parsed: ParsedModel) -> None:
    local = _hex(parsed.local_footprints, None)
    placed = _hex(parsed.footprints, 4490)
    query = sql.SQL("COPY sitewatch.bim_element ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, ELEMENT_COLUMNS)))
    with conn.cursor() as cur, cur.copy(query) as copy:
        for i, r in enumerate(parsed.rows):
            copy.write_row((
                model_id, r["global_id"], r["ifc_class"], r["predefined_type"], r["name"],
                r["type_name"], r["storey"], r["material"],
                json.dumps(r["psets"], ensure_ascii=False, default=str),
                json.dumps(r["quantities"], ensure_ascii=False, default=str),
                r["quantity_source"], r.get("bottom_elevation"), r.get("top_elevation"),
                local[i], placed[i], r.get("mesh_index")))


def write_model(conn: psycopg.Connection, model_id: int, parsed: ParsedModel, *,
                ifc_file: ifcopenshell.file, data_dir, suspect_distance_m: float = 200.0,
                resources: Callable[[], dict] | None = None) -> dict:
    """Store ``parsed`` as model ``model_id``'s result; return the summary stored.

    ``resources``, when given, is called just before the summary is stored (so the memory it
    reports covers the write too) and its result stored as ``summary["resources"]``.
    Returns an empty dict without writing when the model is no longer ``parsing``.
    """
    started = time.perf_counter()
    mesh = store_bytes(parsed.glb, data_dir=data_dir, suffix=".glb")
    warnings = list(parsed.warnings)
    summary = dict(parsed.summary)
    timings = summary.setdefault("timings", {})
    placement = parsed.placement
    with conn.transaction():
        status = conn.execute("SELECT status FROM sitewatch.bim_model WHERE id = %s FOR UPDATE",
                              (model_id,)).fetchone()
        if status is None or status[0] != "parsing":
            logger.warning("model %s is %s, not parsing: result discarded", model_id, status)
            return {}
        conn.execute("DELETE FROM sitewatch.bim_element WHERE model_id = %s", (model_id,))
        _copy_elements(conn, model_id, parsed)
        element_ids: dict[str, int] = dict(conn.execute(
            "SELECT global_id, id FROM sitewatch.bim_element WHERE model_id = %s",
            (model_id,)).fetchall())
        summary["schedule"] = None
        hook = _schedule_hook()
        copied = time.perf_counter()
        if hook is not None:
            try:
                with conn.transaction():  # a savepoint: a failing reader leaves no rows behind
                    summary["schedule"] = hook(conn, model_id, ifc_file, element_ids)
            except MemoryError:
                raise
            except Exception as exc:  # the elements are still worth keeping
                logger.exception("schedule reader failed for model %s", model_id)
                warnings.append({"code": "schedule_failed",
                                 "message": f"the 4D schedule could not be read: {exc}"})
        timings["schedule_s"] = round(time.perf_counter() - copied, 4)
        lon, lat = placement.origin_lonlat
        # The union of the footprints: made while this transaction wrote for large models
        # (ParsedModel.outline), else (or if GEOS gave up there) by PostGIS from the footprints
        # just stored.
        outline = None
        if parsed.outline is not None:
            try:
                outline = parsed.outline()
            except shapely.errors.GEOSException as exc:
                logger.warning("model %s: outline left to PostGIS (%s)", model_id, exc)
        conn.execute(
            "UPDATE sitewatch.bim_model SET outline = coalesce(ST_GeomFromWKB(%(outline)s, 4490),"
            " (SELECT ST_Multi(ST_Union(footprint)) FROM sitewatch.bim_element"
            " WHERE model_id = %(id)s)),"
            " origin = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s, %(h)s), 4490)"
            " WHERE id = %(id)s",
            {"id": model_id, "outline": outline, "lon": lon, "lat": lat,
             "h": placement.origin_height})
        distance, suspect = check_distance(conn, model_id, suspect_distance_m=suspect_distance_m)
        if suspect:
            warnings.append(suspect)
        georef = placement.as_json()
        georef["glb_offset"] = list(parsed.glb_offset)
        summary["georeferencing"] = {
            "method": placement.method, "crs": placement.crs, "origin": georef["origin"],
            "rotation_deg": placement.rotation_deg, "scale": placement.scale,
            "distance_to_project_m": distance, "notes": list(placement.notes),
            "warnings": [w["code"] for w in warnings if w["code"] in _GEOREF_CODES],
        }
        timings["write_s"] = round(time.perf_counter() - started, 4)  # without the commit
        summary["mesh"] = {"sha256": mesh.sha256, "bytes": mesh.size,
                           "nodes": summary.get("elements_with_geometry", 0)}
        if resources is not None:
            summary["resources"] = resources()
        conn.execute(
            "UPDATE sitewatch.bim_model SET status = 'done', failure_reason = NULL,"
            " ifc_schema = %(schema)s, summary = %(summary)s, georef_method = %(method)s,"
            " georef = %(georef)s, mesh_sha256 = %(mesh)s, warnings = %(warnings)s,"
            " finished_at = now() WHERE id = %(id)s",
            {"id": model_id, "schema": parsed.schema, "method": placement.method,
             "summary": json.dumps(summary, ensure_ascii=False, default=str),
             "georef": json.dumps(georef, ensure_ascii=False, default=str),
             "mesh": mesh.sha256, "warnings": json.dumps(warnings, ensure_ascii=False)})
    return summary


_GEOREF_CODES = {"no_georeferencing", "georeferencing_suspect", "scale_contradiction",
                 "scale_invalid", "crs_missing", "crs_unknown", "crs_not_projected",
                 "site_reference_disagrees", "anisotropic_scale"}
