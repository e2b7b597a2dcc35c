"""Vector tiles from the library: decoded with mapbox-vector-tile and checked against SQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import mapbox_vector_tile
import morecantile
import pytest
from psycopg import sql

from spatial.collections import DISTRICTS, PROJECTS, Collection, Property
from tests.tiles.conftest import coordinates, densest_tile, expected_ids
from tiles import changes, vector
from tiles.settings import TileSettings
from tiles.tms import parse_tile

SETTINGS = TileSettings()
OVERVIEW = {"code", "name", "stage", "type", "district_code", "storeys", "key_livelihood"}


def _tile(z: int, y: int, x: int):
    return parse_tile("WebMercatorQuad", str(z), str(y), str(x))


def _decode(data: bytes) -> list[dict]:
    layers = mapbox_vector_tile.decode(data)
    assert set(layers) == {"projects"}
    assert layers["projects"]["extent"] == SETTINGS.extent
    return layers["projects"]["features"]


@pytest.fixture(scope="module")
def layer(tiles_url):
    from spatial import db
    with db.connect(tiles_url) as conn:
        return vector.build_layer(conn, PROJECTS, SETTINGS)


def test_sources_are_resolved_and_tracked(layer, tiles_conn):
    # The ledger and its progress snapshot (the card colours the map): both tracked.
    assert layer.sources == ("sitewatch.project", "sitewatch.project_progress")
    assert layer.tracked
    districts = vector.build_layer(tiles_conn, DISTRICTS, SETTINGS)
    assert districts.sources == ("sitewatch.district",) and districts.tracked


@pytest.mark.parametrize("z", [10, 13, 16])
def test_tile_holds_exactly_the_intersecting_features(layer, tiles_conn, z):
    z, y, x = densest_tile(tiles_conn, z)
    expected = expected_ids(tiles_conn, z, y, x)
    assert expected, "the densest tile must hold projects"
    tile = vector.render(tiles_conn, layer, _tile(z, y, x))
    feats = _decode(tile.data)
    codes = [f["properties"]["code"] for f in feats]
    assert len(codes) == len(set(codes))
    assert set(codes) == expected
    margin = SETTINGS.buffer
    for f in feats:
        for cx, cy in coordinates(f["geometry"]):
            assert -margin <= cx <= SETTINGS.extent + margin
            assert -margin <= cy <= SETTINGS.extent + margin


def test_detail_zoom_carries_every_scalar_property_with_its_value(layer, tiles_conn):
    z, y, x = densest_tile(tiles_conn, 16)
    feats = _decode(vector.render(tiles_conn, layer, _tile(z, y, x)).data)
    assert feats
    names = [p.name for p in PROJECTS.properties if p.queryable and p.type != "array"]
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    query = sql.SQL("SELECT {} FROM sitewatch.project_feature WHERE code = ANY(%s)").format(cols)
    rows = tiles_conn.execute(query, ([f["properties"]["code"] for f in feats],)).fetchall()
    by_code = {r[0]: dict(zip(names, r)) for r in rows}
    for f in feats:
        db_row = by_code[f["properties"]["code"]]
        expected = {}
        for k, v in db_row.items():
            if v is None:
                continue  # ST_AsMVT leaves NULL properties out
            if isinstance(v, Decimal):
                v = float(v)
            elif isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, date):
                v = v.isoformat()
            expected[k] = v
        props = dict(f["properties"])
        # An instant, whatever the session's time zone wrote it in.
        assert datetime.fromisoformat(props.pop("updated_at")) == db_row["updated_at"]
        expected.pop("updated_at")
        assert props == expected
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_city_zoom_carries_the_overview_and_points_for_specks(layer, tiles_conn):
    z, y, x = densest_tile(tiles_conn, 10)
    feats = _decode(vector.render(tiles_conn, layer, _tile(z, y, x)).data)
    for f in feats:
        assert {"code", "name", "stage", "type", "district_code"} <= set(f["properties"])
        assert set(f["properties"]) <= OVERVIEW
    kinds = {f["geometry"]["type"] for f in feats}
    assert "Point" in kinds  # a 60 m site is 6 tile units at z10: sent as its centroid
    # ... and only the small ones: every point's footprint is under the threshold.
    points = [f["properties"]["code"] for f in feats if f["geometry"]["type"] == "Point"]
    unit_m = 2 * 20037508.342789244 / 2 ** z / SETTINGS.extent
    sizes = tiles_conn.execute(
        "SELECT max(greatest(ST_XMax(b) - ST_XMin(b), ST_YMax(b) - ST_YMin(b))) FROM "
        "(SELECT ST_Transform(footprint, 3857)::box2d AS b FROM sitewatch.project "
        "WHERE code = ANY(%s)) s", (points,)).fetchone()
    assert sizes[0] < SETTINGS.min_feature_units * unit_m * 1.05


def test_max_features_caps_a_tile(tiles_conn):
    small = vector.build_layer(tiles_conn, PROJECTS, TileSettings(max_features=5))
    z, y, x = densest_tile(tiles_conn, 13)
    feats = _decode(vector.render(tiles_conn, small, _tile(z, y, x)).data)
    assert len(feats) == 5
    assert {f["properties"]["code"] for f in feats} <= expected_ids(tiles_conn, z, y, x)


def test_empty_tile_is_empty_bytes(layer, tiles_conn):
    tile = vector.render(tiles_conn, layer, _tile(8, 0, 0))
    assert tile.data == b""
    assert tile.etag.startswith('W/"')


def test_known_version_renders_nothing_and_an_update_changes_the_etag(layer, tiles_conn):
    z, y, x = densest_tile(tiles_conn, 15)
    first = vector.render(tiles_conn, layer, _tile(z, y, x))
    again = vector.render(tiles_conn, layer, _tile(z, y, x), if_none_match=first.etag)
    assert again.data is None and again.etag == first.etag
    # A write to another tracked table (districts) does not touch project tiles.
    tiles_conn.execute("UPDATE sitewatch.district SET name_en = name_en WHERE code = '330106'")
    assert vector.render(tiles_conn, layer, _tile(z, y, x)).etag == first.etag
    code = _decode(first.data)[0]["properties"]["code"]
    tiles_conn.execute("UPDATE sitewatch.project SET name = name || ' (改)' WHERE code = %s",
                       (code,))
    try:
        changed = vector.render(tiles_conn, layer, _tile(z, y, x), if_none_match=first.etag)
        assert changed.data is not None and changed.etag != first.etag
        names = {f["properties"]["code"]: f["properties"]["name"] for f in _decode(changed.data)}
        assert names[code].endswith(" (改)")
        # Every other tile of the layer changes ETag too: the counter is per table.
        other = vector.render(tiles_conn, layer, _tile(8, 0, 0))
        assert other.version == changed.version
    finally:
        tiles_conn.execute("UPDATE sitewatch.project SET name = left(name, -4) WHERE code = %s",
                           (code,))


def test_untracked_sources_fall_back_to_content_hashes(tiles_conn):
    tiles_conn.execute("DROP TABLE IF EXISTS sitewatch.tile_test_point")
    tiles_conn.execute("CREATE TABLE sitewatch.tile_test_point (id int PRIMARY KEY, label text, "
                       "weight numeric, geom geometry(Point, 4490))")
    tiles_conn.execute("INSERT INTO sitewatch.tile_test_point VALUES "
                       "(1, 'a', 1.5, ST_SetSRID(ST_Point(120.15, 30.27), 4490)), "
                       "(2, 'b', NULL, ST_SetSRID(ST_Point(120.151, 30.271), 4490))")
    coll = Collection(
        id="test-points", title="t", title_zh="t", description="t",
        table="sitewatch.tile_test_point", id_sql="t.id::text", geometry_sql="t.geom",
        geometry_type="Point",
        properties=(Property("label", "t.label", "string", "Label", "标签"),
                    Property("weight", "t.weight", "number", "Weight", "权重")),
    )
    try:
        untracked = vector.build_layer(tiles_conn, coll, SETTINGS)
        assert untracked.sources == ("sitewatch.tile_test_point",) and not untracked.tracked
        t = morecantile.tms.get("WebMercatorQuad").tile(120.1505, 30.2705, 16)
        tile = _tile(16, t.y, t.x)
        first = vector.render(tiles_conn, untracked, tile)
        feats = mapbox_vector_tile.decode(first.data)["test-points"]["features"]
        assert sorted((f["properties"]["id"], f["properties"]["label"]) for f in feats) == [
            ("1", "a"), ("2", "b")]
        assert {f["properties"].get("weight") for f in feats} == {1.5, None}
        assert ".h" in first.etag and changes.matches(first.etag, first.etag)
        assert vector.render(tiles_conn, untracked, tile).etag == first.etag
        tiles_conn.execute("UPDATE sitewatch.tile_test_point SET label = 'c' WHERE id = 1")
        assert vector.render(tiles_conn, untracked, tile).etag != first.etag
        # Tracking it (what a migration does) switches to counter ETags; TRUNCATE bumps too.
        tiles_conn.execute("SELECT sitewatch.track_tile_changes('sitewatch.tile_test_point')")
        tracked = vector.build_layer(tiles_conn, coll, SETTINGS)
        assert tracked.tracked
        before = vector.render(tiles_conn, tracked, tile)
        tiles_conn.execute("TRUNCATE sitewatch.tile_test_point")
        after = vector.render(tiles_conn, tracked, tile, if_none_match=before.etag)
        assert after.version == before.version + 1 and after.data == b""
    finally:
        tiles_conn.execute("DROP TABLE sitewatch.tile_test_point")
        tiles_conn.execute("DELETE FROM sitewatch.tile_change "
                           "WHERE table_name = 'sitewatch.tile_test_point'")


def test_views_resolve_to_their_base_tables(tiles_conn):
    view = replace(PROJECTS, table="(SELECT p.*, d.name AS district_name FROM "
                                   "sitewatch.project_feature p "
                                   "JOIN sitewatch.district d ON d.code = p.district_code)")
    layer = vector.build_layer(tiles_conn, view, SETTINGS)
    assert layer.sources == ("sitewatch.district", "sitewatch.project",
                             "sitewatch.project_progress")
    assert layer.tracked


def test_statements_differ_only_by_detail(layer):
    assert layer.signature(13) != layer.signature(14)
    assert layer.signature(0) == layer.signature(13)
    assert layer.signature(14) == layer.signature(22)
