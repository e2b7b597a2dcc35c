"""CQL2 → SQL: literals become bound parameters, names come only from the whitelist."""

from __future__ import annotations

import json

import pytest

from spatial import cql
from spatial.collections import PROJECTS
from spatial.crs import parse_crs
from spatial.errors import InvalidQuery


def _translate(text: str, conn) -> tuple[str, dict]:
    params: dict = {}
    composed = cql.to_sql(cql.parse(text), PROJECTS, params, filter_crs=parse_crs(None))
    return composed.as_string(conn), params


def test_literals_are_parameters_not_sql(conn):
    text = "name = 'x'' OR 1=1 --' AND investment > 12345.5 AND stage IN ('tendering', 'filing')"
    rendered, params = _translate(text, conn)
    assert "OR 1=1" not in rendered and "12345.5" not in rendered and "tendering" not in rendered
    assert sorted(params.values(), key=str) == sorted(
        ["x' OR 1=1 --", 12345.5, "tendering", "filing"], key=str)
    # the SQL names only whitelisted expressions
    assert "t.name" in rendered and "t.investment" in rendered and "t.stage" in rendered


def test_text_and_json_give_the_same_sql(conn):
    text = _translate("stage = 'under_construction' AND investment > 50000", conn)
    as_json = cql.parse('{"op": "and", "args": ['
                        '{"op": "=", "args": [{"property": "stage"}, "under_construction"]},'
                        '{"op": ">", "args": [{"property": "investment"}, 50000]}]}',
                        "cql2-json")
    params: dict = {}
    rendered = cql.to_sql(as_json, PROJECTS, params, filter_crs=parse_crs(None)).as_string(conn)
    assert rendered == text[0]
    assert list(params.values()) == list(text[1].values())


@pytest.mark.parametrize("text", [
    "nosuch = 1",                                 # unknown property
    "hazardous_works = 'x'",                      # not queryable
    "investment = 'abc'",                         # type mismatch
    "planned_start > 5",                          # a date compared with a number
    "stage = ",                                   # malformed
    "S_INTERSECTS(name, POINT(120 30))",          # not a geometry property
    "T_BEFORE(name, DATE('2024-01-01'))",         # not a temporal property
])
def test_bad_filters_are_invalid_queries(text: str, conn):
    with pytest.raises(InvalidQuery):
        _translate(text, conn)


def test_bbox_literal_keeps_its_corners(conn):
    rendered, params = _translate("S_INTERSECTS(geometry, BBOX(120.0, 30.0, 121.0, 31.0))", conn)
    (geojson,) = [v for v in params.values() if isinstance(v, str)]
    ring = json.loads(geojson)["coordinates"][0]
    assert sorted(map(tuple, ring[:4])) == [(120, 30), (120, 31), (121, 30), (121, 31)]
