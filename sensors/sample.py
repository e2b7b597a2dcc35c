"""Sensors for the sample city: what a bureau would see on sites under construction.

Every chosen site under construction gets a dust (PM10) and a noise monitor at its boundary;
excavations (基坑) get two wall-top displacement points and a settlement point; tower cranes
(起重吊装) get a load-moment limiter and an anemometer.  A deep excavation that also tunnels is
taken to be next to a metro line (the ``near_metro`` profile: 20 mm, 2 mm/day).  Two synthetic
sensitive places (a school and a hospital, ``source = 'sample'``) sit a few hundred metres from
two sites, so the cross-department rule has something to find.  Deterministic for a seed.
"""

from __future__ import annotations

import logging
import random

import psycopg
from psycopg.types.json import Jsonb

from sensors.kinds import KINDS

logger = logging.getLogger(__name__)

M_LAT = 1 / 111_320.0                      # degrees per metre north
M_LON = 1 / (111_320.0 * 0.8646)           # degrees per metre east at 30.2° N


def _sites(conn: psycopg.Connection, seed: int, max_projects: int) -> list[tuple]:
    rows = conn.execute(
        "SELECT id, code, hazardous_works, ST_X(c), ST_Y(c) FROM ("
        "  SELECT id, code, hazardous_works, ST_PointOnSurface(footprint) AS c"
        "  FROM sitewatch.project WHERE stage = 'under_construction') s ORDER BY id").fetchall()
    rng = random.Random(seed)
    if len(rows) > max_projects:
        rows = sorted(rng.sample(rows, max_projects), key=lambda r: r[0])
    return rows


def _plan(hazards: list[dict]) -> list[tuple[str, str, str | None, float, float, float]]:
    """(code, kind, hazardous work, east m, north m, height m) for one site."""
    categories = {h.get("category") for h in hazards}
    plan: list[tuple[str, str, str | None, float, float, float]] = [
        ("DUST-1", "pm10", None, -40.0, 30.0, 3.0), ("NOISE-1", "noise", None, 40.0, 30.0, 1.5)]
    if "excavation" in categories:
        plan += [("PW-1", "pit_wall_displacement", "excavation", -20.0, -10.0, 0.0),
                 ("PW-2", "pit_wall_displacement", "excavation", 20.0, -10.0, 0.0),
                 ("ST-1", "settlement", "excavation", 0.0, -35.0, 0.0)]
    if "lifting" in categories:
        plan += [("TC-1", "crane_load_moment", "lifting", 5.0, 5.0, 45.0),
                 ("WIND-1", "wind_speed", "lifting", 5.0, 5.0, 50.0)]
    return plan


def load_sensors(conn: psycopg.Connection, *, seed: int = 1, max_projects: int = 24) -> dict:
    """Replace the sample sensors (and sample places) of up to ``max_projects`` sites."""
    sites = _sites(conn, seed, max_projects)
    rng = random.Random(seed + 1)
    count = 0
    with conn.transaction():
        conn.execute("DELETE FROM sitewatch.poi WHERE source = 'sample'")
        for pid, code, hazards, lon, lat in sites:
            conn.execute("DELETE FROM sitewatch.sensor WHERE project_id = %s", (pid,))
            categories = {h.get("category") for h in hazards}
            near_metro = {"excavation", "tunnelling"} <= categories
            for scode, kind, work, east, north, height in _plan(hazards):
                jitter_e, jitter_n = rng.uniform(-8, 8), rng.uniform(-8, 8)
                profile = "near_metro" if near_metro and kind == "pit_wall_displacement" \
                    else "standard"
                conn.execute(
                    "INSERT INTO sitewatch.sensor (project_id, code, name, kind, unit, location, "
                    "hazardous_work, profile, rules) VALUES (%s, %s, %s, %s, %s, "
                    "ST_SetSRID(ST_MakePoint(%s, %s, %s), 4490), %s, %s, %s)",
                    (pid, scode, f"{code} {scode}", kind, KINDS[kind],
                     lon + (east + jitter_e) * M_LON, lat + (north + jitter_n) * M_LAT, height,
                     work, profile, Jsonb({})))
                count += 1
        places = []
        for (_, code, _, lon, lat), (category, name, metres) in zip(
                sites[:2], (("school", "示例小学（虚构）", 300.0), ("hospital", "示例医院（虚构）", 420.0))):
            conn.execute(
                "INSERT INTO sitewatch.poi (name, category, geom, source) VALUES "
                "(%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4490), 'sample')",
                (name, category, lon + metres * M_LON, lat))
            places.append({"category": category, "near_project": code, "distance_m": metres})
    logger.info("sample sensors: %d on %d sites", count, len(sites))
    return {"sensors": count, "sites": len(sites), "places": places}
