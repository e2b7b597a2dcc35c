"""Keep each project's progress snapshot (``sitewatch.project_progress``) current.

The `projects` collection and the map show PV, EV, SV, SPI, SV(t), SPI(t), the forecast finish
and the alert card at the current date.  Computing them takes a full :func:`compute` per project,
too slow for every page of a 100,000-project ledger, so they are stored: after site reports
arrive, after a model is parsed, and once a day for every project with a schedule (PV moves with
the date, and month-end cards fall due).  Each refresh first runs the month-end card checks not yet
run (:func:`check_cards`), so the cards need no scheduler of their own.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import psycopg
from psycopg.types.json import Jsonb

from bim.progress.check_cards import check_cards
from bim.progress.compute import LOCAL_TZ, compute

__all__ = ["refresh_all", "refresh_progress", "stale_projects"]

logger = logging.getLogger(__name__)

_UPSERT = """
    INSERT INTO sitewatch.project_progress AS pp (project_id, status_date, model_id, pv, ev, sv,
        spi, sv_t, spi_t, forecast_finish, card, status_counts, computed_at)
    SELECT id, %(day)s, %(model)s, %(pv)s, %(ev)s, %(sv)s, %(spi)s, %(sv_t)s, %(spi_t)s,
           %(forecast_finish)s, %(card)s, %(counts)s, now()
    FROM sitewatch.project WHERE code = %(code)s
    ON CONFLICT (project_id) DO UPDATE SET
        status_date = EXCLUDED.status_date, model_id = EXCLUDED.model_id, pv = EXCLUDED.pv,
        ev = EXCLUDED.ev, sv = EXCLUDED.sv, spi = EXCLUDED.spi, sv_t = EXCLUDED.sv_t,
        spi_t = EXCLUDED.spi_t, forecast_finish = EXCLUDED.forecast_finish,
        card = EXCLUDED.card, status_counts = EXCLUDED.status_counts,
        computed_at = EXCLUDED.computed_at
"""
# The stored row already says the same (statement triggers bump the tile version on any write,
# even one that changes no row, so the upsert is not even attempted then).
_SAME = """
    SELECT 1 FROM sitewatch.project_progress pp JOIN sitewatch.project p ON p.id = pp.project_id
    WHERE p.code = %(code)s
      AND (pp.status_date, pp.model_id, pp.pv, pp.ev, pp.sv, pp.spi, pp.sv_t, pp.spi_t,
           pp.forecast_finish, pp.card, pp.status_counts)
          IS NOT DISTINCT FROM (%(day)s::date, %(model)s::bigint, %(pv)s::float8, %(ev)s::float8,
           %(sv)s::float8, %(spi)s::float8, %(sv_t)s::float8, %(spi_t)s::float8,
           %(forecast_finish)s::timestamptz, %(card)s::text, %(counts)s::jsonb)
"""
# Projects whose current model has tasks, and projects with a snapshot (it may have to go).
_SCHEDULED = """
    SELECT p.code FROM sitewatch.project p
    WHERE EXISTS (SELECT 1 FROM sitewatch.bim_model m
                  JOIN sitewatch.schedule s ON s.model_id = m.id
                  WHERE m.project_id = p.id AND m.status = 'done')
       OR EXISTS (SELECT 1 FROM sitewatch.project_progress pp WHERE pp.project_id = p.id)
    ORDER BY p.code
"""
# Projects whose snapshot is missing or of another model than their current one (a model was
# parsed since, by the web app or the CLI), or of an earlier day (PV moved, cards fell due); and
# snapshots left without a scheduled current model (to be removed).
_STALE = """
    WITH cur AS (
        SELECT DISTINCT ON (m.project_id) m.project_id, m.id
        FROM sitewatch.bim_model m WHERE m.status = 'done'
        ORDER BY m.project_id, m.version DESC)
    SELECT p.code FROM cur
    JOIN sitewatch.project p ON p.id = cur.project_id
    LEFT JOIN sitewatch.project_progress pp ON pp.project_id = cur.project_id
    WHERE EXISTS (SELECT 1 FROM sitewatch.schedule s WHERE s.model_id = cur.id)
      AND (pp.project_id IS NULL OR pp.model_id IS DISTINCT FROM cur.id
           OR pp.status_date < %(day)s)
    UNION
    SELECT p.code FROM sitewatch.project_progress pp
    JOIN sitewatch.project p ON p.id = pp.project_id
    LEFT JOIN cur ON cur.project_id = pp.project_id
    WHERE cur.id IS NULL OR NOT EXISTS (SELECT 1 FROM sitewatch.schedule s
                                        WHERE s.model_id = cur.id)
    ORDER BY 1
"""


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


def refresh_progress(conn: psycopg.Connection, project_code: str,
                     day: date | None = None) -> dict | None:
    """Run the due card checks, compute the project at ``day`` (default today) and store it.

    Returns the stored figures, or None when the project has no schedule to measure (its
    snapshot, if any, is removed).  Writes nothing when the figures did not change, so tiles keep
    their ETags.
    """
    day = day or today()
    check_cards(conn, project_code, day)
    result = compute(conn, project_code, day)
    summary = result["summary"]
    with conn.transaction():
        if result["model_id"] is None or not result["tasks"]:
            conn.execute("DELETE FROM sitewatch.project_progress pp USING sitewatch.project p"
                         " WHERE p.id = pp.project_id AND p.code = %s AND EXISTS (SELECT 1"
                         " FROM sitewatch.project_progress WHERE project_id = p.id)",
                         (project_code,))
            return None
        row = {"code": project_code, "day": day, "model": result["model_id"],
               "forecast_finish": summary.get("forecast_finish"), "card": summary.get("card"),
               "counts": Jsonb(summary.get("status_counts", {})),
               **{k: summary.get(k) for k in ("pv", "ev", "sv", "spi", "sv_t", "spi_t")}}
        if conn.execute(_SAME, row).fetchone() is None:
            conn.execute(_UPSERT, row)
    return {k: v for k, v in row.items() if k != "counts"}


def stale_projects(conn: psycopg.Connection, day: date | None = None) -> list[str]:
    """Codes of projects whose snapshot is missing, of another model or older than ``day``, or
    has no scheduled model left: refreshing these makes every snapshot current."""
    return [r[0] for r in conn.execute(_STALE, {"day": day or today()}).fetchall()]


def refresh_all(conn: psycopg.Connection, day: date | None = None, *,
                codes: list[str] | None = None) -> int:
    """Refresh every project with a schedule (or a snapshot), or those of ``codes``; return how
    many were refreshed.  One project's failure is logged and does not stop the others.
    """
    day = day or today()
    if codes is None:
        codes = [r[0] for r in conn.execute(_SCHEDULED).fetchall()]
    if not conn.autocommit:
        conn.commit()
    done = 0
    for code in codes:
        try:
            refresh_progress(conn, code, day)
            done += 1
        except Exception:
            logger.exception("progress of %s could not be refreshed", code)
            if not conn.autocommit:
                conn.rollback()
    return done
