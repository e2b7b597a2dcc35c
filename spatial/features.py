"""Feature queries for OGC API Features, built in SQL and returned as GeoJSON text.

The database writes each feature's JSON (``ST_AsGeoJSON`` + ``json_build_object``) and joins the
page into one string, so Python never parses or re-serialises a feature.  Reprojection and the
authority's axis order are applied in SQL too.  Request values arrive as bound parameters; names
(properties, sort keys) only through the collection's whitelist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from pygeofilter import ast

from spatial import cql
from spatial.collections import Collection
from spatial.crs import CRS84, Crs, parse_crs
from spatial.errors import InvalidQuery

_CRS84 = parse_crs(CRS84)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class ItemsQuery:
    """Everything an items request may ask for, already validated."""

    limit: int = 10
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None   # in bbox_crs, its axis order
    bbox_crs: Crs = _CRS84
    crs: Crs = _CRS84
    interval: tuple[datetime | None, datetime | None] | None = None
    filter: ast.Node | None = None
    filter_crs: Crs = _CRS84
    sortby: tuple[tuple[str, bool], ...] = ()               # (property, descending)
    properties: tuple[str, ...] | None = None               # None: all
    skip_geometry: bool = False
    equals: tuple[tuple[str, str], ...] = field(default=())  # property=value parameters
    status_date: date | None = None                          # 4D status collections; None: today


@dataclass(frozen=True)
class ItemsPage:
    features: str          # the features, comma-separated JSON objects (no brackets)
    number_returned: int
    number_matched: int


# -- parameter parsing (shared by the Flask fast path and the pygeoapi provider) ---------------

def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minx,miny,maxx,maxy`` (or 6 numbers with heights) → the 2D corners."""
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidQuery("bbox must have 4 or 6 comma-separated numbers", parameter="bbox")
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        raise InvalidQuery(f"bbox values must be numbers: {text!r}", parameter="bbox") from exc
    if not all(math.isfinite(n) for n in nums):
        raise InvalidQuery("bbox values must be finite", parameter="bbox")
    x1, y1, x2, y2 = (nums[0], nums[1], nums[2], nums[3]) if len(nums) == 4 else (
        nums[0], nums[1], nums[3], nums[4])
    if x1 > x2 or y1 > y2:
        raise InvalidQuery("bbox lower corner must not exceed the upper corner", parameter="bbox")
    return x1, y1, x2, y2


def _instant(text: str, *, end: bool) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            # A bare date is a calendar day where the ledger lives.
            return datetime.combine(d, time.max if end else time.min, tzinfo=LOCAL_TZ)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidQuery(f"datetime is not RFC 3339: {text!r}", parameter="datetime") from exc
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """An RFC 3339 instant or interval (``a/b``, ``../b``, ``a/..``) → (start, end)."""
    if "/" in text:
        start_text, _, end_text = text.partition("/")
        start, end = _instant(start_text, end=False), _instant(end_text, end=True)
        if start is None and end is None:
            raise InvalidQuery("datetime interval has no bound", parameter="datetime")
        if start and end and start > end:
            raise InvalidQuery("datetime interval ends before it starts", parameter="datetime")
        return start, end
    if text in ("", ".."):
        raise InvalidQuery("datetime is empty", parameter="datetime")
    return _instant(text, end=False), _instant(text, end=True)


def parse_datetime_for(collection: Collection, text: str | None) -> dict[str, Any]:
    """``interval`` and ``status_date`` of an items request from its ``datetime`` parameter.

    For a collection with a 4D status one date or instant is the status date and filters nothing;
    an interval filters (where the collection has a time extent) and sets the status date to its
    end.  Elsewhere ``datetime`` only filters.
    """
    if text is None:
        return {}
    interval = parse_datetime(text)
    if collection.status is None:
        return {"interval": interval}
    end = interval[1]
    status_date = end.astimezone(LOCAL_TZ).date() if end is not None else None
    if "/" not in text:
        return {"status_date": status_date}
    if collection.temporal is None:
        raise InvalidQuery(f"{collection.id}: datetime is the status date here, give one date or "
                           "instant", parameter="datetime")
    return {"interval": interval, "status_date": status_date}


def parse_sortby(text: str, collection: Collection) -> tuple[tuple[str, bool], ...]:
    keys = []
    for raw in text.split(","):
        item = raw.strip()  # a "+" sent unencoded arrives as a space
        descending = item.startswith("-")
        name = item.lstrip("+-").strip()
        if name.lower().endswith((" asc", " desc")):
            name, _, order = name.rpartition(" ")
            descending = order.lower() == "desc"
        prop = collection.property(name)
        if prop is None or prop.type == "array" or prop.computed:
            raise InvalidQuery(f"cannot sort by {name!r}", parameter="sortby")
        keys.append((name, descending))
    return tuple(keys)


def parse_properties(text: str, collection: Collection) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if collection.property(n) is None]
    if unknown:
        raise InvalidQuery(f"unknown properties: {', '.join(unknown)}", parameter="properties")
    return names


def coerce_value(collection: Collection, name: str, text: str) -> Any:
    """A property=value query parameter, typed as the property is."""
    prop = collection.queryables[name]
    try:
        if prop.type == "number":
            value = Decimal(text)  # numeric, like the column, so its index is usable
            if not value.is_finite():
                raise ValueError(text)
            return value
        if prop.type == "integer":
            return int(text)
        if prop.type == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if prop.format in ("date", "date-time"):
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, ArithmeticError) as exc:
        raise InvalidQuery(f"{name} must be a {prop.format or prop.type}: {text!r}",
                           parameter=name) from exc
    return text


# -- SQL ------------------------------------------------------------------------------------------

def _geometry_expr(collection: Collection, crs: Crs, alias_geom: str | None = None) -> sql.Composable:
    geom = sql.SQL(alias_geom or collection.geometry_sql)
    if crs.srid != 4490:
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(crs.srid))
    if crs.swap_axes:
        geom = sql.SQL("ST_FlipCoordinates({})").format(geom)
    return sql.SQL("ST_AsGeoJSON({}, {}, 0)").format(geom, sql.Literal(crs.decimals))


def feature_sql(collection: Collection, *, crs: Crs, properties: tuple[str, ...] | None,
                skip_geometry: bool) -> sql.Composable:
    """SQL text expression of one feature's GeoJSON, over the row alias ``t``."""
    names = properties if properties is not None else tuple(p.name for p in collection.properties)
    pairs = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(n), sql.SQL(collection.property(n).sql))  # type: ignore[union-attr]
        for n in names
    )
    props = sql.SQL("json_build_object({})::text").format(pairs) if names else sql.SQL("'{}'")
    geometry = (sql.SQL("'null'") if skip_geometry
                else sql.SQL("coalesce({}, 'null')").format(_geometry_expr(collection, crs)))
    return sql.SQL(
        """'{{"type":"Feature","id":' || to_json({id})::text || ',"geometry":' || {geom}"""
        """ || ',"properties":' || {props} || '}}'"""
    ).format(id=sql.SQL(collection.id_sql), geom=geometry, props=props)


def _bbox_sql(collection: Collection, q: ItemsQuery, params: dict[str, Any]) -> sql.Composable:
    assert q.bbox is not None
    x1, y1, x2, y2 = q.bbox
    if q.bbox_crs.swap_axes:
        x1, y1, x2, y2 = y1, x1, y2, x2
    params.update(bx1=x1, by1=y1, bx2=x2, by2=y2)
    env = sql.SQL("ST_MakeEnvelope(%(bx1)s, %(by1)s, %(bx2)s, %(by2)s, {})").format(
        sql.Literal(q.bbox_crs.srid))
    if q.bbox_crs.srid != 4490:
        # A projected rectangle is curved in degrees: densify before transforming.
        step = 10.0 if q.bbox_crs.is_geographic else 1000.0
        env = sql.SQL("ST_Transform(ST_Segmentize({}, {}), 4490)").format(env, sql.Literal(step))
    return sql.SQL("ST_Intersects({}, {})").format(sql.SQL(collection.geometry_sql), env)


def where_sql(collection: Collection, q: ItemsQuery, params: dict[str, Any]) -> sql.Composable:
    clauses: list[sql.Composable] = []
    if q.bbox is not None:
        clauses.append(_bbox_sql(collection, q, params))
    if q.interval is not None:
        if collection.temporal is None:
            raise InvalidQuery(f"{collection.id} has no time extent", parameter="datetime")
        start_sql, end_sql = collection.temporal
        lo, hi = q.interval
        # Ledger dates are calendar days in Shanghai: compare dates, whatever the session zone.
        # Instants (collection.temporal_format "date-time") compare as instants.
        instant = collection.temporal_format == "date-time"
        if lo is not None:
            params["dt_lo"] = lo if instant else lo.astimezone(LOCAL_TZ).date()
            clauses.append(sql.SQL("{} >= %(dt_lo)s").format(sql.SQL(end_sql)))
        if hi is not None:
            params["dt_hi"] = hi if instant else hi.astimezone(LOCAL_TZ).date()
            clauses.append(sql.SQL("{} <= %(dt_hi)s").format(sql.SQL(start_sql)))
    for i, (name, text) in enumerate(q.equals):
        key = f"eq{i}"
        params[key] = coerce_value(collection, name, text)
        clauses.append(sql.SQL("{} = {}").format(
            sql.SQL(collection.queryables[name].sql), sql.Placeholder(key)))
    if q.filter is not None:
        clauses.append(cql.to_sql(q.filter, collection, params, filter_crs=q.filter_crs))
    if not clauses:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(clauses)


def _order_sql(collection: Collection, q: ItemsQuery) -> sql.Composable:
    keys = [
        sql.SQL("{} {}").format(sql.SQL(collection.property(n).sql),  # type: ignore[union-attr]
                                sql.SQL("DESC" if desc else "ASC"))
        for n, desc in q.sortby
    ]
    keys.append(sql.SQL(collection.id_sql))
    return sql.SQL(", ").join(keys)


_STATUS_JOIN = """
    LEFT JOIN unnest(%(st_key)s::text[], %(st_planned)s::float8[], %(st_reported)s::float8[],
                     %(st_status)s::text[], %(st_colour)s::text[])
        AS s(key, planned_percent, reported_percent, status, colour) ON s.key = {id}
"""


def items_sql(collection: Collection, q: ItemsQuery) -> tuple[sql.Composable, dict[str, Any]]:
    """The page query: one row of (features text, number returned)."""
    params: dict[str, Any] = {"limit": q.limit, "offset": q.offset}
    where = where_sql(collection, q, params)
    feature = feature_sql(collection, crs=q.crs, properties=q.properties,
                          skip_geometry=q.skip_geometry)
    parts = {"feature": feature, "table": sql.SQL(collection.table), "where": where,
             "order": _order_sql(collection, q)}
    if collection.status is None:
        query = sql.SQL(
            "SELECT coalesce(string_agg({feature}, ','), ''), count(*)::int FROM ("
            "SELECT * FROM {table} t WHERE {where} ORDER BY {order} "
            "LIMIT %(limit)s OFFSET %(offset)s) t").format(**parts)
    else:
        # The status rows are joined to the page, so the page keeps its order by number.
        query = sql.SQL(
            "SELECT coalesce(string_agg({feature}, ',' ORDER BY t.sw_row), ''), count(*)::int "
            "FROM (SELECT t.*, row_number() OVER (ORDER BY {order}) AS sw_row FROM {table} t "
            "WHERE {where} ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s) t " + _STATUS_JOIN
        ).format(id=sql.SQL(collection.id_sql), **parts)
    return query, params


def _status_params(conn: psycopg.Connection, collection: Collection, models: list[int],
                   status_date: date | None) -> dict[str, Any]:
    """The bound arrays of ``_STATUS_JOIN``: 4D status of the items of ``models``."""
    from bim.progress.status_at import status_at  # bim builds on spatial, not the reverse

    day = status_date or datetime.now(LOCAL_TZ).date()
    rows = status_at(conn, models, day, kind=collection.status) if models else {}  # type: ignore[arg-type]
    keys = list(rows)
    return {"st_date": day, "st_key": keys,
            "st_planned": [rows[k][0] for k in keys], "st_reported": [rows[k][1] for k in keys],
            "st_status": [rows[k][2] for k in keys], "st_colour": [rows[k][3] for k in keys]}


def _page_models(conn: psycopg.Connection, collection: Collection, q: ItemsQuery) -> list[int]:
    """The models whose items are on the page (the status is computed for those only)."""
    params: dict[str, Any] = {"limit": q.limit, "offset": q.offset}
    query = sql.SQL(
        "SELECT DISTINCT model_id FROM (SELECT t.model_id FROM {table} t WHERE {where} "
        "ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s) p"
    ).format(table=sql.SQL(collection.table), where=where_sql(collection, q, params),
             order=_order_sql(collection, q))
    return [r[0] for r in conn.execute(query, params).fetchall()]


def _wants_status(collection: Collection, properties: tuple[str, ...] | None) -> bool:
    if collection.status is None:
        return False
    return properties is None or any(collection.property(n).computed  # type: ignore[union-attr]
                                     for n in properties)


def count_sql(collection: Collection, q: ItemsQuery) -> tuple[sql.Composable, dict[str, Any]]:
    params: dict[str, Any] = {}
    where = where_sql(collection, q, params)
    return sql.SQL("SELECT count(*)::int FROM {} t WHERE {}").format(
        sql.SQL(collection.table), where), params


def query_items(conn: psycopg.Connection, collection: Collection, q: ItemsQuery) -> ItemsPage:
    """Run an items query; ``numberMatched`` costs a count only when the page is full."""
    query, params = items_sql(collection, q)
    try:
        if collection.status is not None:
            models = _page_models(conn, collection, q) if _wants_status(collection, q.properties) \
                else []
            params.update(_status_params(conn, collection, models, q.status_date))
        features, returned = conn.execute(query, params, prepare=True).fetchone()  # type: ignore[misc]
        if returned < q.limit and (returned > 0 or q.offset == 0):
            matched = q.offset + returned
        else:
            cquery, cparams = count_sql(collection, q)
            matched = conn.execute(cquery, cparams, prepare=True).fetchone()[0]  # type: ignore[index]
    except psycopg.DataError as exc:
        # Division by zero, numeric overflow, a NUL byte: the request is at fault, not the server.
        conn.rollback()
        reason = exc.diag.message_primary or "a value is out of range"
        raise InvalidQuery(f"the filter cannot be evaluated: {reason}", parameter="filter") from exc
    return ItemsPage(features, returned, matched)


def get_item(conn: psycopg.Connection, collection: Collection, feature_id: str, *,
             crs: Crs = _CRS84, status_date: date | None = None) -> str | None:
    """One feature's GeoJSON text, or None."""
    feature = feature_sql(collection, crs=crs, properties=None, skip_geometry=False)
    params: dict[str, Any] = {"fid": feature_id}
    if collection.status is None:
        query = sql.SQL("SELECT {} FROM {} t WHERE {} = %(fid)s").format(
            feature, sql.SQL(collection.table), sql.SQL(collection.id_sql))
    else:
        query = sql.SQL("SELECT {feature} FROM (SELECT * FROM {table} t WHERE {id} = %(fid)s) t "
                        + _STATUS_JOIN).format(feature=feature, table=sql.SQL(collection.table),
                                                id=sql.SQL(collection.id_sql))
    try:
        if collection.status is not None:
            row = conn.execute(sql.SQL("SELECT model_id FROM {} t WHERE {} = %(fid)s").format(
                sql.SQL(collection.table), sql.SQL(collection.id_sql)), params).fetchone()
            params.update(_status_params(conn, collection, [row[0]] if row else [], status_date))
        row = conn.execute(query, params, prepare=True).fetchone()
    except psycopg.DataError:  # an id that cannot be of the id column's type: no such feature
        conn.rollback()
        return None
    return row[0] if row else None


def extent(conn: psycopg.Connection, collection: Collection) -> dict[str, Any]:
    """Spatial (CRS84) and temporal extent, for the collection metadata."""
    temporal = sql.SQL("NULL::date, NULL::date")
    if collection.temporal:
        start, end = collection.temporal
        temporal = sql.SQL("min({}), max({})").format(sql.SQL(start), sql.SQL(end))
    row = conn.execute(sql.SQL(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), lo, hi FROM "
        "(SELECT ST_Extent({geom})::geometry AS e, {temporal} FROM {table} t) AS s(e, lo, hi)"
    ).format(geom=sql.SQL(collection.geometry_sql), temporal=temporal,
             table=sql.SQL(collection.table))).fetchone()
    bbox = list(row[:4]) if row and row[0] is not None else None
    interval = [row[4], row[5]] if row and row[4] is not None else None
    return {"bbox": bbox, "interval": interval}
