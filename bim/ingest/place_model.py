"""Re-place a parsed model on the map by hand, from the stored local footprints (no re-parse)."""

from __future__ import annotations

import json
from dataclasses import replace

import psycopg
import shapely

from bim.georef import Placement
from bim.ingest.write_model import check_distance
from spatial.errors import NotFound, ValidationFailed

__all__ = ["place_model"]

# Warnings a new placement answers: they are dropped, and the distance check runs again.
_REPLACED = {"no_georeferencing", "georeferencing_suspect"}


def place_model(conn: psycopg.Connection, model_id: int, placement: Placement, *,
                suspect_distance_m: float = 200.0) -> dict:
    """Move every element footprint, the outline and the origin to ``placement`` (method
    ``manual``) in one transaction; return the new georef summary."""
    with conn.transaction():
        row = conn.execute(
            "SELECT status, warnings, summary, georef FROM sitewatch.bim_model"
            " WHERE id = %s FOR UPDATE", (model_id,)).fetchone()
        if row is None:
            raise NotFound(f"model {model_id} not found")
        status, warnings, summary, old = row
        if status != "done":
            raise ValidationFailed(f"model {model_id} is {status}; only a parsed model can be "
                                   "placed", [{"row": 0, "field": "status", "reason": status}])
        old = old or {}
        placement = replace(placement, height=placement.height or float(
            (old.get("origin") or {}).get("height") or 0.0))
        ids, wkb = [], []
        for element_id, local in conn.execute(
                "SELECT id, ST_AsBinary(local_footprint) FROM sitewatch.bim_element"
                " WHERE model_id = %s AND local_footprint IS NOT NULL", (model_id,)):
            ids.append(element_id)
            wkb.append(bytes(local))
        if ids:
            placed = shapely.transform(shapely.from_wkb(wkb), placement.to_lonlat)
            hexes = shapely.to_wkb(shapely.set_srid(placed, 4490), hex=True, include_srid=True)
            conn.execute("CREATE TEMP TABLE _placed (id bigint, footprint text) ON COMMIT DROP")
            with conn.cursor() as cur, cur.copy("COPY _placed (id, footprint) FROM STDIN") as copy:
                for element_id, text in zip(ids, hexes):
                    copy.write_row((element_id, text))
            conn.execute(
                "UPDATE sitewatch.bim_element e SET footprint = ST_Multi(p.footprint::geometry)"
                " FROM _placed p WHERE e.id = p.id")
        lon, lat = placement.origin_lonlat
        conn.execute(
            "UPDATE sitewatch.bim_model SET outline = (SELECT ST_Multi(ST_Union(footprint))"
            " FROM sitewatch.bim_element WHERE model_id = %(id)s),"
            " origin = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s, %(h)s), 4490)"
            " WHERE id = %(id)s", {"id": model_id, "lon": lon, "lat": lat,
                                   "h": placement.origin_height})
        distance, suspect = check_distance(conn, model_id, suspect_distance_m=suspect_distance_m)
        kept = [w for w in warnings or [] if w.get("code") not in _REPLACED]
        if suspect:
            kept.append(suspect)
        georef = placement.as_json()
        georef["glb_offset"] = old.get("glb_offset", [0.0, 0.0, 0.0])
        georef["previous"] = {k: old.get(k) for k in ("method", "crs", "rotation_deg", "origin")}
        outcome = {"method": "manual", "crs": placement.crs, "origin": georef["origin"],
                   "rotation_deg": placement.rotation_deg, "scale": placement.scale,
                   "distance_to_project_m": distance, "notes": [],
                   "warnings": ["georeferencing_suspect"] if suspect else []}
        summary = dict(summary or {})
        summary["georeferencing"] = outcome
        conn.execute(
            "UPDATE sitewatch.bim_model SET georef_method = 'manual', georef = %s, warnings = %s,"
            " summary = %s WHERE id = %s",
            (json.dumps(georef, ensure_ascii=False), json.dumps(kept, ensure_ascii=False),
             json.dumps(summary, ensure_ascii=False, default=str), model_id))
    return outcome


