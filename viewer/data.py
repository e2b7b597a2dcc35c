"""What the map page reads from PostGIS beyond the OGC collections.

District label points, the city's extent for the first view, and the BIM data the 4D replay
needs per element (footprint, elevations and the planned dates of the tasks that build it, from
``task_element``) plus the models whose mesh can be drawn.  Each function takes a connection and
returns plain data; GeoJSON is built in the database.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import date

import numpy as np
import psycopg

__all__ = ["availability", "district_labels", "element_features", "home_view",
           "model_elements", "models", "party_names", "schedule_range"]

logger = logging.getLogger(__name__)

MAX_ELEMENTS = 20000


def _table_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def availability(conn: psycopg.Connection) -> dict[str, bool]:
    """Which optional data exist in the database: ``bim`` (elements), ``meshes`` (GLB files)."""
    out = {"bim": False, "meshes": False}
    if _table_exists(conn, "sitewatch.bim_element"):
        out["bim"] = conn.execute("SELECT EXISTS (SELECT 1 FROM sitewatch.bim_element "
                                  "WHERE footprint IS NOT NULL)").fetchone()[0]
        out["meshes"] = conn.execute("SELECT EXISTS (SELECT 1 FROM sitewatch.bim_model "
                                     "WHERE status = 'done' AND mesh_sha256 IS NOT NULL "
                                     "AND origin IS NOT NULL)").fetchone()[0]
    return out


def district_labels(conn: psycopg.Connection) -> list[dict]:
    """``[{code, name, name_en, position: [lon, lat]}]``, one point inside each district."""
    rows = conn.execute(
        "SELECT code, name, coalesce(name_en, name), ST_X(p), ST_Y(p) FROM ("
        " SELECT code, name, name_en, ST_PointOnSurface(geom) AS p FROM sitewatch.district) d "
        "ORDER BY code").fetchall()
    return [{"code": c, "name": n, "name_en": e, "position": [round(x, 6), round(y, 6)]}
            for c, n, e, x, y in rows]


def home_view(conn: psycopg.Connection) -> dict:
    """The first view: centred on the projects (else the districts), zoomed to fit ~1000 px."""
    row = conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT coalesce("
        " (SELECT ST_Extent(footprint) FROM sitewatch.project),"
        " (SELECT ST_Extent(geom) FROM sitewatch.district)) AS e) s").fetchone()
    if row is None or row[0] is None:
        return {"longitude": 120.15, "latitude": 30.28, "zoom": 10}   # Hangzhou
    xmin, ymin, xmax, ymax = row
    span = max(xmax - xmin, (ymax - ymin) / max(math.cos(math.radians((ymin + ymax) / 2)), 0.1),
               1e-4)
    zoom = math.log2(360.0 * 1000 / 512 / span)   # 512-px world at zoom 0, fit ~1000 px
    return {"longitude": round((xmin + xmax) / 2, 6), "latitude": round((ymin + ymax) / 2, 6),
            "zoom": round(max(3.0, min(zoom, 16.0)), 2)}


# The planned window of each element of ``el`` (earliest planned start, latest planned finish
# of the tasks it is an output of) and its 4D status at the status date, when one is asked for:
# the bbox feed (footprints) and the per-model feed (mesh colours) must replay alike.
_PLANNED_AND_STATUS = """
planned AS (
    SELECT te.element_id, min(t.planned_start) AS planned_start,
           max(t.planned_finish) AS planned_finish
    FROM sitewatch.task_element te JOIN sitewatch.task t ON t.id = te.task_id
    WHERE te.relation = 'output' AND te.element_id IN (SELECT id FROM el)
    GROUP BY te.element_id
), st AS (                  -- 4D status at the status date (bim.progress.status_at), if asked
    SELECT * FROM unnest(%(st_key)s::text[], %(st_status)s::text[], %(st_colour)s::text[])
        AS s(key, status, colour)
)
"""
_WINDOW_AND_STATUS = """
    'planned_start', to_char(pl.planned_start AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),
    'planned_finish', to_char(pl.planned_finish AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),
    'status', st.status, 'colour', st.colour,
    'status_date', CASE WHEN st.status IS NOT NULL THEN %(st_date)s END
"""
_JOIN_WINDOW_AND_STATUS = """
FROM el LEFT JOIN planned pl ON pl.element_id = el.id
LEFT JOIN st ON st.key = el.model_id || ':' || el.global_id
"""
_ELEMENTS_SQL = """
WITH latest AS (            -- the newest parsed model of each project
    SELECT DISTINCT ON (m.project_id) m.id, p.code AS project_code
    FROM sitewatch.bim_model m JOIN sitewatch.project p ON p.id = m.project_id
    WHERE m.status = 'done'
    ORDER BY m.project_id, m.version DESC
), el AS (
    SELECT e.id, e.model_id, e.global_id, e.ifc_class, e.storey, e.name,
           e.bottom_elevation, e.top_elevation, l.project_code, e.footprint
    FROM sitewatch.bim_element e JOIN latest l ON l.id = e.model_id
    WHERE e.footprint IS NOT NULL
      AND e.footprint && ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4490)
    ORDER BY e.model_id, e.bottom_elevation NULLS FIRST, e.id
    LIMIT %(limit)s
), """ + _PLANNED_AND_STATUS + """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
    json_build_object(
        'type', 'Feature',
        'id', el.model_id || ':' || el.global_id,
        'geometry', ST_AsGeoJSON(el.footprint, 7)::json,
        'properties', json_build_object(
            'global_id', el.global_id, 'model_id', el.model_id, 'ifc_class', el.ifc_class,
            'storey', el.storey, 'name', el.name, 'project_code', el.project_code,
            'bottom_elevation', el.bottom_elevation, 'top_elevation', el.top_elevation,
            """ + _WINDOW_AND_STATUS + """
        ))), '[]'::json))
""" + _JOIN_WINDOW_AND_STATUS
_MODEL_ELEMENTS_SQL = """
WITH el AS (
    SELECT e.id, e.model_id, e.global_id FROM sitewatch.bim_element e
    WHERE e.model_id = %(model)s
), """ + _PLANNED_AND_STATUS + """
SELECT json_build_object('model_id', %(model)s::bigint, 'status_date', %(st_date)s::text,
    'elements', coalesce(json_agg(json_build_object('global_id', el.global_id,
        """ + _WINDOW_AND_STATUS + """) ORDER BY el.id), '[]'::json))
""" + _JOIN_WINDOW_AND_STATUS
_MODELS_IN_BBOX = """
    SELECT DISTINCT ON (m.project_id) m.id
    FROM sitewatch.bim_model m JOIN sitewatch.project p ON p.id = m.project_id
    WHERE m.status = 'done'
      AND p.footprint && ST_Expand(ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4490), 0.01)
    ORDER BY m.project_id, m.version DESC
"""


def element_features(conn: psycopg.Connection, bbox: tuple[float, float, float, float], *,
                     limit: int = MAX_ELEMENTS, status_date: date | None = None) -> str:
    """Elements of the newest model of each project inside ``bbox`` (lon/lat), as GeoJSON text.

    Each feature carries the planned window of the tasks it is an output of (earliest planned
    start, latest planned finish, as local dates), so the page can replay the schedule at any
    date without another request.  Elements no task builds have null dates.  With
    ``status_date``, elements with a 4D status at that date (reported progress, the rules of
    docs/progress.md) carry ``status``, ``colour`` and ``status_date`` too.
    """
    if not _table_exists(conn, "sitewatch.bim_element"):
        return '{"type": "FeatureCollection", "features": []}'
    xmin, ymin, xmax, ymax = bbox
    params = {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax, "limit": limit}
    models = []
    if status_date is not None:
        models = [r[0] for r in conn.execute(_MODELS_IN_BBOX, params).fetchall()]
    params.update(_status_params(conn, models, status_date))
    row = conn.execute(_ELEMENTS_SQL, params).fetchone()
    return json.dumps(row[0], ensure_ascii=False, separators=(",", ":"))


def model_elements(conn: psycopg.Connection, model_id: int, *,
                   status_date: date | None = None) -> str | None:
    """Every element of one model with its planned window and, with ``status_date``, its 4D
    status at that date, as JSON text; None when the model does not exist.

    What the page needs to colour the model's mesh, whose nodes are named by GlobalId: the same
    properties as :func:`element_features` without the footprints, so that one model at a time
    is one small request whatever the view.  ``{"model_id", "status_date", "elements":
    [{"global_id", "planned_start", "planned_finish", "status", "colour", "status_date"}]}``.
    """
    if not _table_exists(conn, "sitewatch.bim_model"):
        return None
    if conn.execute("SELECT 1 FROM sitewatch.bim_model WHERE id = %s",
                    (model_id,)).fetchone() is None:
        return None
    models = [model_id] if status_date is not None else []
    params = {"model": model_id, **_status_params(conn, models, status_date)}
    row = conn.execute(_MODEL_ELEMENTS_SQL, params).fetchone()
    return json.dumps(row[0], ensure_ascii=False, separators=(",", ":"))


def _status_params(conn: psycopg.Connection, models: list[int],
                   status_date: date | None) -> dict:
    """The ``st`` CTE's arrays: each element's 4D status and colour at ``status_date`` (empty
    without a date, or for models that are not their project's current one)."""
    params: dict = {"st_key": [], "st_status": [], "st_colour": [], "st_date": None}
    if status_date is None:
        return params
    from bim.progress.status_at import status_at

    rows = status_at(conn, models, status_date, kind="element") if models else {}
    params.update(st_key=list(rows), st_status=[v[2] for v in rows.values()],
                  st_colour=[v[3] for v in rows.values()], st_date=status_date.isoformat())
    return params


def models(conn: psycopg.Connection) -> list[dict]:
    """The newest parsed model of each project that has a mesh: where and how to draw its GLB."""
    if not _table_exists(conn, "sitewatch.bim_model"):
        return []
    rows = conn.execute(
        "SELECT DISTINCT ON (m.project_id) m.id, p.code, m.version, ST_X(m.origin), "
        " ST_Y(m.origin), coalesce(ST_Z(m.origin), 0), m.georef "
        "FROM sitewatch.bim_model m JOIN sitewatch.project p ON p.id = m.project_id "
        "WHERE m.status = 'done' AND m.mesh_sha256 IS NOT NULL AND m.origin IS NOT NULL "
        "ORDER BY m.project_id, m.version DESC").fetchall()
    out = []
    for model_id, code, version, lon, lat, z, georef in rows:
        georef = georef or {}
        out.append({"model_id": model_id, "project_code": code, "version": version,
                    "position": _mesh_anchor(georef, [lon, lat, z]),
                    # degrees, counter-clockwise from east to the model's x axis, if recorded
                    "rotation": float(georef.get("rotation_deg", georef.get("rotation", 0)) or 0),
                    "mesh": f"/api/v1/models/{model_id}/mesh.glb"})
    return out


def _mesh_anchor(georef: dict, origin: list[float]) -> list[float]:
    """Where the GLB's own origin lies: the model's origin moved by the GLB's offset (see
    bim.geometry.write_glb) through the model's placement.

    A model drawn far from its local origin has an offset of kilometres; turned into lon/lat here
    by the placement's projection, it leaves the page only metres to draw, where a map's metre
    offsets are exact.
    """
    offset = georef.get("glb_offset") or [0.0, 0.0, 0.0]
    if not any(offset):
        return origin
    from bim.georef.placement import Placement

    try:
        placement = Placement.from_json(georef)
    except (KeyError, TypeError, ValueError):
        logger.warning("model georef without a placement: its GLB offset is ignored")
        return origin
    lon, lat = placement.to_lonlat(np.array([offset], dtype=np.float64))[0]
    height = placement.origin_height + float(offset[2]) * placement.scale
    return [float(lon), float(lat), height]


def schedule_range(conn: psycopg.Connection) -> dict | None:
    """``{"start", "finish"}`` (local ISO dates) spanning every planned task, for the slider."""
    if not _table_exists(conn, "sitewatch.task"):
        return None
    row = conn.execute(
        "SELECT to_char(min(planned_start) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),"
        " to_char(max(planned_finish) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') "
        "FROM sitewatch.task").fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    return {"start": row[0], "finish": row[1]}


def party_names(conn: psycopg.Connection, credit_codes: list[str]) -> dict[str, str]:
    """Enterprise names by unified social credit code (for the project panel)."""
    codes = [c for c in credit_codes if c][:20]
    if not codes:
        return {}
    rows = conn.execute("SELECT credit_code, name FROM sitewatch.enterprise "
                        "WHERE credit_code = ANY(%s)", (codes,)).fetchall()
    return dict(rows)
