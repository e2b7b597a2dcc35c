"""CQL2 (text and JSON) to parameterised PostgreSQL, through pygeofilter's AST.

CQL2 text is read by the ``cql2`` package (the standard's grammar: function-style ``T_BEFORE``,
``S_INTERSECTS``, ``CASEI``), turned into CQL2 JSON, and that JSON into pygeofilter's AST, which
this module walks.

Property names resolve only through the collection's queryables; every literal becomes a named
bound parameter.  Anything we cannot translate safely is an :class:`InvalidQuery` (HTTP 400),
never a SQL error.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import cql2
import shapely
import shapely.geometry
from psycopg import sql
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json

from spatial.collections import Collection, Property
from spatial.crs import Crs
from spatial.errors import InvalidQuery

GEOMETRY_NAMES = ("geometry", "geom", "footprint")


def parse(text: str, lang: str | None = None) -> ast.Node:
    """Parse a ``filter`` parameter; ``lang`` is ``cql2-text`` (default) or ``cql2-json``."""
    if lang not in (None, "cql2-text", "cql2-json", "cql-text", "cql-json"):
        raise InvalidQuery(f"unsupported filter-lang {lang!r}", parameter="filter-lang")
    if "\x00" in text:
        raise InvalidQuery("the filter contains a NUL character", parameter="filter")
    as_json = lang in ("cql2-json", "cql-json") or (lang is None and text.lstrip().startswith("{"))
    try:
        doc = json.loads(text) if as_json else cql2.parse_text(text).to_json()
        return parse_cql2_json(_normalise(doc))
    except InvalidQuery:
        raise
    except Exception as exc:  # the parsers raise a zoo of lark/json/value errors
        kind = "CQL2 JSON" if as_json else "CQL2 text"
        raise InvalidQuery(f"bad {kind} filter: {exc}".splitlines()[0], parameter="filter") from exc


def _normalise(node: Any) -> Any:
    """Rewrite standard CQL2 JSON where pygeofilter 0.4 reads it differently.

    - ``{"bbox": [minx, miny, maxx, maxy]}`` becomes a GeoJSON polygon: pygeofilter makes an
      Envelope of it as (x1, x2, y1, y2), which swaps the corners.
    - ``{"op": "between", "args": [a, lo, hi]}`` becomes ``[a, [lo, hi]]``, pygeofilter's shape.
    """
    if isinstance(node, list):
        return [_normalise(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("op") == "between" and isinstance(node.get("args"), list) and len(node["args"]) == 3:
        a, lo, hi = (_normalise(x) for x in node["args"])
        return {"op": "between", "args": [a, [lo, hi]]}
    if set(node) == {"bbox"}:
        box = node["bbox"]
        if not isinstance(box, list) or len(box) not in (4, 6):
            raise InvalidQuery("a bbox literal has 4 or 6 numbers", parameter="filter")
        x1, y1, x2, y2 = (box[0], box[1], box[2], box[3]) if len(box) == 4 else (
            box[0], box[1], box[3], box[4])
        ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
        return {"type": "Polygon", "coordinates": [ring]}
    return {k: _normalise(v) for k, v in node.items()}


class Translator:
    """Turns one filter AST into a ``sql.Composable`` and fills ``params``."""

    def __init__(self, collection: Collection, params: dict[str, Any], *, filter_crs: Crs) -> None:
        self.collection = collection
        self.params = params
        self.filter_crs = filter_crs

    # -- values -----------------------------------------------------------------------------
    def bind(self, value: Any) -> sql.Composable:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)

    def _prop(self, node: Any) -> Property:
        if not isinstance(node, ast.Attribute):
            raise InvalidQuery("a property name is expected here", parameter="filter")
        prop = self.collection.queryables.get(node.name)
        if prop is None:
            known = ", ".join(sorted(self.collection.queryables))
            raise InvalidQuery(
                f"unknown property {node.name!r} in filter; queryables are: {known}",
                parameter="filter",
            )
        return prop

    def _literal(self, value: Any, prop: Property | None) -> sql.Composable:
        """Bind a literal, checked against the property type it is compared with."""
        if isinstance(value, ast.Attribute):
            return sql.SQL(self._prop(value).sql)
        if isinstance(value, ast.Arithmetic):
            return self._arithmetic(value)
        if isinstance(value, ast.Function):
            return self._function(value, prop)
        kind = prop.type if prop else None
        fmt = prop.format if prop else None
        if kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidQuery(f"{prop.name} is a number; got {value!r}", parameter="filter")
            # Bound as numeric, not double precision, so the column's index stays usable.
            return self.bind(Decimal(repr(value)) if isinstance(value, float) else value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise InvalidQuery(f"{prop.name} is a boolean; got {value!r}", parameter="filter")
            return self.bind(value)
        if fmt in ("date", "date-time"):
            return self.bind(_as_datetime(value, prop.name))
        if isinstance(value, (str, int, float, bool)):
            return self.bind(value if kind != "string" else str(value))
        raise InvalidQuery(f"unsupported literal {value!r} in filter", parameter="filter")

    def _operand(self, node: Any) -> tuple[sql.Composable, Property | None]:
        if isinstance(node, ast.Attribute):
            prop = self._prop(node)
            return sql.SQL(prop.sql), prop
        if isinstance(node, ast.Function):
            return self._function(node, None), None
        if isinstance(node, ast.Arithmetic):
            return self._arithmetic(node), None
        return self._literal(node, None), None

    def _function(self, node: ast.Function, prop: Property | None) -> sql.Composable:
        name = node.name.lower()
        if name in ("casei", "lower", "accenti") and len(node.arguments) == 1:
            arg = node.arguments[0]
            if isinstance(arg, ast.Attribute):
                arg_prop = self._prop(arg)
                if arg_prop.type != "string":
                    raise InvalidQuery(f"{name}() needs a text property, not {arg_prop.name}",
                                       parameter="filter")
                inner = sql.SQL(arg_prop.sql)
            elif isinstance(arg, str):
                inner = self.bind(arg)
            else:
                raise InvalidQuery(f"{name}() takes a property or a string", parameter="filter")
            return inner if name == "accenti" else sql.SQL("lower({})").format(inner)
        raise InvalidQuery(f"unsupported function {node.name!r} in filter", parameter="filter")

    def _arithmetic(self, node: ast.Arithmetic) -> sql.Composable:
        lhs, lp = self._operand(node.lhs)
        rhs, rp = self._operand(node.rhs)
        for p in (lp, rp):
            if p is not None and p.type not in ("number", "integer"):
                raise InvalidQuery(f"arithmetic on non-numeric property {p.name}", parameter="filter")
        op = {ast.Add: "+", ast.Sub: "-", ast.Mul: "*", ast.Div: "/"}[type(node)]
        return sql.SQL("({} {} {})").format(lhs, sql.SQL(op), rhs)

    def _geometry(self, value: Any) -> sql.Composable:
        if not isinstance(value, (values.Geometry, values.Envelope)):
            raise InvalidQuery("a geometry literal is expected here", parameter="filter")
        try:  # shapely checks what GEOS inside PostgreSQL would otherwise fail on
            geom = shapely.geometry.shape(value.geometry)
        except Exception as exc:  # noqa: BLE001 - shapely raises several kinds
            raise InvalidQuery(f"bad geometry literal in filter: {exc}", parameter="filter") from exc
        if geom.is_empty:
            raise InvalidQuery("empty geometry literal in filter", parameter="filter")
        if not _rings_closed(value.geometry):
            raise InvalidQuery("a polygon ring in the filter is not closed (first point must "
                               "equal the last, at least 4 points)", parameter="filter")
        geojson = shapely.to_geojson(geom)
        expr = sql.SQL("ST_SetSRID(ST_GeomFromGeoJSON({}), {})").format(
            self.bind(geojson), sql.Literal(self.filter_crs.srid))
        if self.filter_crs.swap_axes:
            expr = sql.SQL("ST_FlipCoordinates({})").format(expr)
        if self.filter_crs.srid != 4490:
            expr = sql.SQL("ST_Transform({}, 4490)").format(expr)
        return expr

    def _geometry_side(self, node: Any) -> sql.Composable:
        if isinstance(node, ast.Attribute):
            if node.name in GEOMETRY_NAMES:
                return sql.SQL(self.collection.geometry_sql)
            raise InvalidQuery(
                f"{node.name!r} is not a geometry property (use 'geometry')", parameter="filter")
        return self._geometry(node)

    # -- predicates -------------------------------------------------------------------------
    def __call__(self, node: Any) -> sql.Composable:  # noqa: C901 - one dispatch table
        if isinstance(node, ast.And):
            return sql.SQL("({} AND {})").format(self(node.lhs), self(node.rhs))
        if isinstance(node, ast.Or):
            return sql.SQL("({} OR {})").format(self(node.lhs), self(node.rhs))
        if isinstance(node, ast.Not):
            return sql.SQL("(NOT {})").format(self(node.sub_node))
        if isinstance(node, ast.Comparison):
            lhs, prop = self._operand(node.lhs)
            rhs = self._literal(node.rhs, prop)
            return sql.SQL("({} {} {})").format(lhs, sql.SQL(node.op.value), rhs)
        if isinstance(node, ast.Between):
            lhs, prop = self._operand(node.lhs)
            tmpl = "({} NOT BETWEEN {} AND {})" if node.not_ else "({} BETWEEN {} AND {})"
            return sql.SQL(tmpl).format(lhs, self._literal(node.low, prop),
                                        self._literal(node.high, prop))
        if isinstance(node, ast.Like):
            lhs, prop = self._operand(node.lhs)
            if prop is not None and prop.type != "string":
                raise InvalidQuery(f"LIKE needs a text property, not {prop.name}", parameter="filter")
            if isinstance(node.pattern, str):
                pattern = self.bind(node.pattern)
            elif isinstance(node.pattern, ast.Function):
                pattern = self._function(node.pattern, prop)
            else:
                raise InvalidQuery("LIKE needs a string pattern", parameter="filter")
            op = ("NOT " if node.not_ else "") + ("ILIKE" if node.nocase else "LIKE")
            return sql.SQL("({} {} {})").format(lhs, sql.SQL(op), pattern)
        if isinstance(node, ast.In):
            lhs, prop = self._operand(node.lhs)
            items = sql.SQL(", ").join(self._literal(v, prop) for v in node.sub_nodes)
            return sql.SQL("({} {} ({}))").format(lhs, sql.SQL("NOT IN" if node.not_ else "IN"), items)
        if isinstance(node, ast.IsNull):
            lhs, _ = self._operand(node.lhs)
            return sql.SQL("({} IS NOT NULL)" if node.not_ else "({} IS NULL)").format(lhs)
        if isinstance(node, bool):
            return sql.SQL("TRUE" if node else "FALSE")
        if isinstance(node, ast.Include):
            return sql.SQL("FALSE" if node.not_ else "TRUE")
        if isinstance(node, ast.BBox):
            env = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
            return sql.SQL("ST_Intersects({}, {})").format(
                self._geometry_side(node.lhs), self._geometry(env))
        if isinstance(node, ast.SpatialComparisonPredicate):
            fn = {
                ast.GeometryIntersects: "ST_Intersects", ast.GeometryDisjoint: "ST_Disjoint",
                ast.GeometryContains: "ST_Contains", ast.GeometryWithin: "ST_Within",
                ast.GeometryTouches: "ST_Touches", ast.GeometryCrosses: "ST_Crosses",
                ast.GeometryOverlaps: "ST_Overlaps", ast.GeometryEquals: "ST_Equals",
            }[type(node)]
            return sql.SQL("{}({}, {})").format(
                sql.SQL(fn), self._geometry_side(node.lhs), self._geometry_side(node.rhs))
        if isinstance(node, ast.SpatialDistancePredicate):
            metres = _metres(node.distance, node.units)
            expr = sql.SQL("ST_DWithin({}::geography, {}::geography, {})").format(
                self._geometry_side(node.lhs), self._geometry_side(node.rhs), self.bind(metres))
            return expr if isinstance(node, ast.DistanceWithin) else sql.SQL("(NOT {})").format(expr)
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        raise InvalidQuery(f"unsupported filter expression {type(node).__name__}", parameter="filter")

    def _temporal(self, node: ast.TemporalPredicate) -> sql.Composable:
        prop = self._prop(node.lhs)
        if prop.format not in ("date", "date-time"):
            raise InvalidQuery(f"{prop.name} is not a temporal property", parameter="filter")
        col = sql.SQL(prop.sql)
        rhs = node.rhs
        if isinstance(rhs, values.Interval):
            start = self.bind(_as_datetime(rhs.start, prop.name)) if rhs.start else None
            end = self.bind(_as_datetime(rhs.end, prop.name)) if rhs.end else None
        else:
            start = end = self.bind(_as_datetime(rhs, prop.name))
        lo = start if start is not None else sql.SQL("'-infinity'::timestamptz")
        hi = end if end is not None else sql.SQL("'infinity'::timestamptz")
        template = _TEMPORAL.get(type(node))
        if template is None:
            raise InvalidQuery(
                f"temporal operator {node.op.value} is not supported on a date property",
                parameter="filter")
        return sql.SQL(template).format(c=col, lo=lo, hi=hi)


def _rings_closed(geometry: dict) -> bool:
    """Shapely closes open rings silently; WKT and GeoJSON say a ring repeats its first point."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return all(len(ring) >= 4 and list(ring[0]) == list(ring[-1])
               for polygon in polygons for ring in polygon)


# A date property is an instant; [lo, hi] is the literal instant or interval.
_TEMPORAL = {
    ast.TimeBefore: "({c} < {lo})",
    ast.TimeAfter: "({c} > {hi})",
    ast.TimeDuring: "({c} > {lo} AND {c} < {hi})",
    ast.TimeOverlaps: "({c} >= {lo} AND {c} <= {hi})",  # what pygeofilter makes of T_INTERSECTS
    ast.TimeEquals: "({c} = {lo} AND {c} = {hi})",
    ast.TimeDisjoint: "({c} < {lo} OR {c} > {hi})",
    ast.TimeBeforeOrDuring: "({c} <= {hi})",
    ast.TimeDuringOrAfter: "({c} >= {lo})",
}


def _metres(distance: float, units: str) -> float:
    factors = {"meters": 1.0, "metres": 1.0, "m": 1.0, "kilometers": 1000.0, "km": 1000.0}
    try:
        return float(distance) * factors[(units or "meters").lower()]
    except KeyError as exc:
        raise InvalidQuery(f"unsupported distance unit {units!r}", parameter="filter") from exc


def _as_datetime(value: Any, name: str) -> datetime | date:
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    if isinstance(value, timedelta):
        raise InvalidQuery("durations are not supported in filters", parameter="filter")
    raise InvalidQuery(f"{name} is a date; got {value!r}", parameter="filter")


def to_sql(node: ast.Node, collection: Collection, params: dict[str, Any], *,
           filter_crs: Crs) -> sql.Composable:
    """Translate a parsed filter for ``collection``; literals are added to ``params``."""
    return Translator(collection, params, filter_crs=filter_crs)(node)
