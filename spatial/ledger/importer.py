"""Import a ledger file: read, check, then upsert every project in one transaction (all or none)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
import shapely
from psycopg import sql
from psycopg.types.json import Jsonb

from spatial.crs import STORAGE_SRID
from spatial.errors import ValidationFailed
from spatial.ledger import columns
from spatial.ledger.read import read_table
from spatial.ledger.validate import Checked, check, sort_errors

logger = logging.getLogger(__name__)

_TEMP = sql.Identifier("ledger_import")


def import_file(conn: psycopg.Connection, path: str | Path, *, layer: str | None = None,
                sheet: str | int | None = None) -> dict:
    """Upsert projects (by ``code``) from a GeoPackage, Shapefile, GeoJSON, XLSX or CSV file.

    Headers may be Chinese or English (``spatial.ledger.columns``); coded values may be Chinese
    labels (在建, 房屋建筑) or the English codes.  Geometry comes from the vector file (reprojected
    to EPSG:4490), or in XLSX/CSV from a WKT column (几何/geometry/wkt, ``SRID=n;`` allowed) or
    lon/lat columns (经度/纬度, lon/lat).  A point gets an estimated ~30 m square footprint and
    ``footprint_estimated = true``; an invalid polygon is repaired when ``make_valid`` keeps its
    area within 10 %, else the row is rejected.  Columns absent from the file are left as they are
    on existing projects; an empty cell in a present column clears the value.  Enterprises named
    by credit code that are not in ``sitewatch.enterprise`` are created (name from the …名称 column,
    else the code as a placeholder) and missing roles are added to existing ones.

    Row numbers in errors and in the result: vector files count features from 1; XLSX and CSV use
    the spreadsheet row (header = row 1, first data row = 2).  Problems with the file as a whole
    (unreadable, a required column missing) are reported on row 0 (vector) or 1 (the header row).

    Everything happens in one transaction (a savepoint when the caller already has one open): on
    any problem nothing is written, the connection stays usable, and ``ValidationFailed`` lists
    every problem found as ``{"row", "field", "reason"}``.

    Returns ``{"rows", "inserted", "updated", "unchanged", "repaired", "estimated_footprints",
    "enterprises_created", "warnings"}``; ``repaired`` and ``estimated_footprints`` are row numbers.
    """
    path = Path(path)
    table = read_table(path, layer=layer, sheet=sheet)
    checked = check(table)
    with conn.transaction():
        _check_districts(conn, checked)
        if checked.errors:
            rows = sorted({e["row"] for e in checked.errors})
            raise ValidationFailed(
                f"{path.name}: {len(checked.errors)} problem(s) on {len(rows)} row(s); "
                "nothing was imported", checked.errors)
        created = _upsert_enterprises(conn, checked.enterprises)
        inserted, updated = _upsert_projects(conn, checked, note=f"ledger import: {path.name}")
    result = {
        "rows": len(table.rows),
        "inserted": inserted,
        "updated": updated,
        "unchanged": len(checked.rows) - inserted - updated,
        "repaired": checked.repaired,
        "estimated_footprints": checked.estimated,
        "enterprises_created": created,
        "warnings": table.warnings,
    }
    logger.info("imported %s: %s", path.name, {k: v for k, v in result.items() if k != "warnings"})
    return result


def _check_districts(conn: psycopg.Connection, checked: Checked) -> None:
    if not checked.districts:
        return
    known = {r[0] for r in conn.execute(
        "SELECT code FROM sitewatch.district WHERE code = ANY(%s)", (list(checked.districts),))}
    for code, rows in checked.districts.items():
        if code not in known:
            for number in rows:
                checked.error(number, "district_code",
                              f"unknown district code {code} (not in sitewatch.district)")
    sort_errors(checked.errors)


def _upsert_enterprises(conn: psycopg.Connection, enterprises: dict[str, dict]) -> int:
    """Create missing enterprises; add roles to known ones; replace placeholder names."""
    if not enterprises:
        return 0
    params = [(code, e["name"] or code, sorted(e["roles"]))
              for code, e in sorted(enterprises.items())]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sitewatch.enterprise AS e (credit_code, name, roles)"
            " VALUES (%s, %s, %s::text[])"
            " ON CONFLICT (credit_code) DO UPDATE SET"
            "  roles = ARRAY(SELECT DISTINCT r FROM unnest(e.roles || EXCLUDED.roles) AS r"
            "   ORDER BY r),"
            "  name = CASE WHEN e.name = e.credit_code THEN EXCLUDED.name ELSE e.name END"
            " WHERE NOT (e.roles @> EXCLUDED.roles)"
            "  OR (e.name = e.credit_code AND EXCLUDED.name <> e.credit_code)"
            " RETURNING (xmax = 0)",
            params, returning=True)
        created = 0
        while True:
            row = cur.fetchone()
            created += bool(row and row[0])
            if not cur.nextset():
                break
    return created


def _copy_value(name: str, value: Any) -> Any:
    if name == "hazardous_works":
        return Jsonb(value)
    if name == "footprint":
        return shapely.to_wkb(shapely.set_srid(value, STORAGE_SRID), hex=True, include_srid=True)
    return value


def _upsert_projects(conn: psycopg.Connection, checked: Checked, *, note: str) -> tuple[int, int]:
    if not checked.rows:
        return 0, 0
    names = [*checked.fields, "footprint"]
    assert set(names) <= {*columns.DB_FIELDS, "footprint"}  # identifiers only from our whitelist
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(_TEMP))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {}, 0 AS row_no"
                         " FROM sitewatch.project WITH NO DATA").format(_TEMP, cols))
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY pg_temp.{} ({}, row_no) FROM STDIN").format(_TEMP, cols)) as cp:
            for row in checked.rows:
                cp.write_row([_copy_value(n, row.get(n)) for n in names] + [row["row"]])
        updates = sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n))
            for n in names if n != "code")
        mine = sql.SQL(", ").join(sql.SQL("p.{}").format(sql.Identifier(n)) for n in names)
        theirs = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(n)) for n in names)
        cur.execute(sql.SQL(
            "WITH old AS ("
            " SELECT p.id, p.stage FROM sitewatch.project p"
            " JOIN pg_temp.{temp} i ON i.code = p.code"
            "), up AS ("
            " INSERT INTO sitewatch.project AS p ({cols})"
            " SELECT {cols} FROM pg_temp.{temp} ORDER BY row_no"
            " ON CONFLICT (code) DO UPDATE SET {updates}, updated_at = now()"
            " WHERE ({mine}) IS DISTINCT FROM ({theirs})"
            " RETURNING p.id, p.stage, (p.xmax = 0) AS inserted"
            ") SELECT up.id, up.stage, up.inserted, old.stage FROM up"
            " LEFT JOIN old ON old.id = up.id").format(
                temp=_TEMP, cols=cols, updates=updates, mine=mine, theirs=theirs))
        changed = cur.fetchall()
        inserted = sum(1 for r in changed if r[2])
        entered = [(r[0], r[1]) for r in changed if r[2] or r[1] != r[3]]
        if entered:
            cur.execute(
                "INSERT INTO sitewatch.project_stage_history (project_id, stage, entered_on, note)"
                " SELECT id, stage, current_date, %s FROM unnest(%s::bigint[], %s::text[])"
                " AS t(id, stage) ON CONFLICT DO NOTHING",
                (note, [e[0] for e in entered], [e[1] for e in entered]))
        cur.execute(sql.SQL("DROP TABLE pg_temp.{}").format(_TEMP))
    return inserted, len(changed) - inserted
