"""Which tables a tile reads, and whether they are tracked for exact ETags.

A collection is a table (or a view) plus SQL expressions that may read other tables in
subqueries.  The base tables it depends on are read from the plan of a query over all of its
expressions (``EXPLAIN``, nothing is executed): views are expanded and subqueries show up as
subplans, so a view joining elements, models and projects names all three.  Partitions are
reported as the partitioned table they belong to (its statement trigger covers them).

A source table is *tracked* when migration 0006's ``sitewatch.track_tile_changes(table)`` gave
it a statement trigger and rows in ``sitewatch.tile_change`` (one more per write statement, in
the writing transaction).  When every source of a collection is tracked, a tile's ETag holds the
sum of their rows (plus the tile address and the statement's signature), and a conditional
request is answered without rendering the tile; otherwise the ETag is a hash of the tile's bytes,
equally exact but only after rendering.

Examples
--------
>>> from spatial.collections import PROJECTS
>>> source_tables(conn, PROJECTS)  # doctest: +SKIP
('sitewatch.project',)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

import psycopg
from psycopg import sql

from spatial.collections import Collection

logger = logging.getLogger(__name__)

__all__ = ["etag", "known_version", "source_tables", "tracked_tables"]


def _relations(plan: dict) -> Iterator[tuple[str, str]]:
    if "Relation Name" in plan:
        yield plan.get("Schema", "public"), plan["Relation Name"]
    for child in plan.get("Plans", ()):
        yield from _relations(child)


def source_tables(conn: psycopg.Connection, collection: Collection) -> tuple[str, ...]:
    """Schema-qualified base tables that the collection's features read, sorted."""
    exprs = [sql.SQL(collection.geometry_sql), sql.SQL(collection.id_sql)]
    exprs += [sql.SQL(p.sql) for p in collection.properties if not p.computed]
    query = sql.SQL("EXPLAIN (FORMAT JSON, COSTS false, VERBOSE true) SELECT {} FROM {} t").format(
        sql.SQL(", ").join(exprs), sql.SQL(collection.table))
    with conn.transaction():
        (doc,) = conn.execute(query).fetchone()  # type: ignore[misc]
        found = sorted(set(_relations(doc[0]["Plan"])))
        if not found:
            return ()
        rows = conn.execute(
            "SELECT DISTINCT format('%%I.%%I', n.nspname, c.relname) FROM unnest(%s::text[]) AS r(name)"
            " CROSS JOIN LATERAL (SELECT coalesce(pg_partition_root(to_regclass(r.name)),"
            " to_regclass(r.name)) AS oid) AS root"
            " JOIN pg_class c ON c.oid = root.oid JOIN pg_namespace n ON n.oid = c.relnamespace",
            ([f'"{s}"."{t}"' for s, t in found],)).fetchall()
    return tuple(sorted(r[0] for r in rows))


def tracked_tables(conn: psycopg.Connection, tables: tuple[str, ...]) -> set[str]:
    """Those of ``tables`` that have a change counter (and so a trigger)."""
    with conn.transaction():
        exists = conn.execute("SELECT to_regclass('sitewatch.tile_change')").fetchone()
        if not exists or exists[0] is None:
            return set()
        rows = conn.execute("SELECT DISTINCT table_name FROM sitewatch.tile_change"
                            " WHERE table_name = ANY(%s)", (list(tables),)).fetchall()
    return {r[0] for r in rows}


def etag(signature: str, z: int, y: int, x: int, *, version: int | None = None,
         data: bytes | None = None) -> str:
    """A weak ETag: ``W/"<tile key>.<version>"`` or ``W/"<tile key>.h<content hash>"``.

    The tile key names the statement (its text and settings, via ``signature``) and the tile, so
    a new release or another tile never shares an ETag.
    """
    key = tile_key(signature, z, y, x)
    if version is not None:
        return f'W/"{key}.{version}"'
    digest = hashlib.blake2b(data or b"", digest_size=10).hexdigest()
    return f'W/"{key}.h{digest}"'


def tile_key(signature: str, z: int, y: int, x: int) -> str:
    return hashlib.blake2b(f"{signature}/{z}/{y}/{x}".encode(), digest_size=8).hexdigest()


def _tags(header: str) -> Iterator[str]:
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            yield tag[1:-1]
        elif tag == "*":
            yield tag


def known_version(if_none_match: str | None, signature: str, z: int, y: int,
                  x: int) -> int | None:
    """The change version a client's ``If-None-Match`` holds for this tile, if any."""
    if not if_none_match:
        return None
    prefix = tile_key(signature, z, y, x) + "."
    for tag in _tags(if_none_match):
        if tag.startswith(prefix) and tag[len(prefix):].isdigit():
            return int(tag[len(prefix):])
    return None


def matches(if_none_match: str | None, current: str) -> bool:
    """Weak comparison of ``If-None-Match`` against the current ETag (RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    bare = current[2:] if current.startswith("W/") else current
    return any(tag == "*" or f'"{tag}"' == bare for tag in _tags(if_none_match))
