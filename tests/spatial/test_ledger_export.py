"""Ledger export against real PostGIS: each format read back with its own reader and compared with
the database, and exports that re-import unchanged."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import geopandas as gpd
import openpyxl
import psycopg
import pyogrio
import pytest
import shapely
from psycopg.types.json import Jsonb

from spatial import codes
from spatial.errors import InvalidQuery
from spatial.ledger import FORMATS, export_ledger, import_file
from tests.spatial.test_ledger_import import ledger_db, snapshot  # noqa: F401  (fixture)

BUILDER = codes.make_credit_code("330106", 5550)
CONTRACTOR = codes.make_credit_code("330108", 7770)
P1, P2, P3 = (codes.make_project_code(2024, "330106", 47, 1, i) for i in (101, 102, 103))
SEED = [
    # code, name, district, type, stage, key_livelihood, builder, contractor, investment,
    # storeys, planned_start, image_progress, hazards, estimated, WKT
    (P1, "-1层 文三路学校", "330106", "public_building", "under_construction", "school", BUILDER,
     CONTRACTOR, Decimal("12345.67"), 6, date(2024, 3, 1), "=1+1 已封顶",
     [{"category": "excavation", "beyond_scale": True, "description": "深基坑 8 m"}], False,
     "MULTIPOLYGON(((120.0801 30.2501,120.0815 30.2501,120.0815 30.2512,120.0801 30.2512,"
     "120.0801 30.2501),(120.0805 30.2505,120.0805 30.2508,120.0809 30.2508,120.0809 30.2505,"
     "120.0805 30.2505)))"),
    (P2, "滨江区污水管网", "330108", "municipal", "approval", None, None, None, None, None, None,
     None, [], False,
     "MULTIPOLYGON(((120.2 30.18,120.201 30.18,120.201 30.181,120.2 30.18)),"
     "((120.203 30.18,120.204 30.18,120.204 30.181,120.203 30.181,120.203 30.18)))"),
    (P3, "保障房三期", "330106", "housing", "filing", "affordable_housing", None, CONTRACTOR,
     Decimal("0"), 0, None, "已竣工", [], True,
     "MULTIPOLYGON(((120.123456789012 30.2711111111111,120.123767 30.2711111111111,"
     "120.123767 30.27138,120.123456789012 30.27138,120.123456789012 30.2711111111111)))"),
]


@pytest.fixture
def seeded(ledger_db: psycopg.Connection) -> psycopg.Connection:  # noqa: F811
    conn = ledger_db
    conn.execute("INSERT INTO sitewatch.enterprise (credit_code, name, roles) VALUES"
                 " (%s, '杭州城建集团有限公司', '{construction}'),"
                 " (%s, '滨江建工有限公司', '{contractor}')", (BUILDER, CONTRACTOR))
    for (code, name, district, kind, stage, livelihood, builder, contractor, investment, storeys,
         start, progress, hazards, estimated, wkt) in SEED:
        conn.execute(
            "INSERT INTO sitewatch.project (code, name, district_code, type, stage, key_livelihood,"
            " construction_unit, contractor_unit, investment, storeys, planned_start,"
            " image_progress, hazardous_works, footprint_estimated, footprint, permit_no,"
            " planned_finish)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " ST_GeomFromText(%s, 4490), %s, %s)",
            (code, name, district, kind, stage, livelihood, builder, contractor, investment,
             storeys, start, progress, Jsonb(hazards), estimated, wkt,
             codes.make_permit_no(district, date(2024, 2, 1), 7) if start else None,
             date(2025, 12, 31) if start else None))
    conn.commit()
    return conn


def db_projects(conn: psycopg.Connection) -> dict[str, dict]:
    """The projects as the database has them, geometry as shapely, keyed by code."""
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    rows = cur.execute("SELECT *, ST_AsBinary(footprint) AS wkb FROM sitewatch.project").fetchall()
    conn.rollback()
    out = {}
    for row in rows:
        row["footprint"] = shapely.from_wkb(bytes(row.pop("wkb")))
        out[row["code"]] = row
    return out


def test_gpkg_has_english_fields_and_cgcs2000_geometry(seeded, tmp_path):
    path = tmp_path / "ledger.gpkg"
    export_ledger(seeded, "gpkg", path)
    info = pyogrio.read_info(path)
    assert info["crs"] == "EPSG:4490" and info["geometry_type"] == "MultiPolygon"
    types = dict(zip(info["fields"], info["ogr_types"]))
    assert types["planned_start"] == "OFTDate" and types["investment"] == "OFTReal"
    assert {"code", "name", "district_code", "stage", "hazardous_works"} <= set(types)
    frame = gpd.read_file(path)
    expected = db_projects(seeded)
    assert sorted(frame["code"]) == sorted(expected)
    for _, feature in frame.iterrows():
        db = expected[feature["code"]]
        assert feature.geometry.equals_exact(db["footprint"], 0)
        assert feature["name"] == db["name"] and feature["stage"] == db["stage"]
        assert json.loads(feature["hazardous_works"]) == db["hazardous_works"]
        assert bool(feature["footprint_estimated"]) is db["footprint_estimated"]
        if db["investment"] is not None:
            assert feature["investment"] == float(db["investment"])
        if db["planned_start"] is not None:
            assert feature["planned_start"].date() == db["planned_start"]
    assert frame.set_index("code").loc[P1, "construction_unit_name"] == "杭州城建集团有限公司"


def test_geojson_is_rfc7946_lon_lat(seeded):
    buffer = io.BytesIO()
    export_ledger(seeded, "geojson", buffer)
    doc = json.loads(buffer.getvalue().decode("utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    expected = db_projects(seeded)
    assert [f["id"] for f in doc["features"]] == sorted(expected)
    for feature in doc["features"]:
        db = expected[feature["id"]]
        lon, lat = feature["geometry"]["coordinates"][0][0][0]
        assert 120 < lon < 121 and 30 < lat < 31  # lon first, as RFC 7946 requires
        assert shapely.geometry.shape(feature["geometry"]).equals_exact(db["footprint"], 1e-12)
        props = feature["properties"]
        assert props["hazardous_works"] == db["hazardous_works"]  # a real array
        assert props["stage"] == db["stage"] and props["district_code"] == db["district_code"]
        assert props["planned_start"] == (db["planned_start"] and db["planned_start"].isoformat())


def test_xlsx_has_chinese_headers_frozen_and_points_on_footprints(seeded, tmp_path):
    path = tmp_path / "ledger.xlsx"
    export_ledger(seeded, "xlsx", path)
    ws = openpyxl.load_workbook(path).active
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:5] == ["项目代码", "项目名称", "建设阶段", "项目类型", "行政区划代码"]
    assert header[-3:] == ["经度", "纬度", "几何"]
    assert all(not h.isascii() for h in header if h != "几何")
    expected = db_projects(seeded)
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 3
    for values in rows:
        cell = dict(zip(header, values))
        db = expected[cell["项目代码"]]
        lon, lat = cell["经度"], cell["纬度"]
        assert db["footprint"].intersects(shapely.Point(lon, lat))
        assert shapely.from_wkt(cell["几何"]).equals_exact(db["footprint"], 0)
        assert json.loads(cell["危大工程"]) == db["hazardous_works"]
        assert cell["轮廓为估算"] == ("是" if db["footprint_estimated"] else "否")
    first = dict(zip(header, rows[0]))
    assert (first["建设阶段"], first["项目类型"], first["重点民生工程"]) == ("在建", "公共建筑", "学校")
    assert first["计划开工日期"].date() == date(2024, 3, 1)
    assert first["建设单位名称"] == "杭州城建集团有限公司"
    progress = ws.cell(row=2, column=header.index("形象进度") + 1)
    assert progress.value == "=1+1 已封顶" and progress.data_type == "s"  # text, not a formula


def test_csv_is_utf8_with_bom_for_excel(seeded, tmp_path):
    path = tmp_path / "ledger.csv"
    export_ledger(seeded, "csv", str(path))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    expected = db_projects(seeded)
    assert sorted(r["项目代码"] for r in rows) == sorted(expected)
    for row in rows:
        db = expected[row["项目代码"]]
        assert shapely.from_wkt(row["几何"]).equals_exact(db["footprint"], 0)
        assert db["footprint"].intersects(shapely.Point(float(row["经度"]), float(row["纬度"])))
        assert row["总投资（万元）"] == ("" if db["investment"] is None else str(db["investment"]))
    p1 = next(r for r in rows if r["项目代码"] == P1)
    assert p1["项目名称"] == "'-1层 文三路学校"  # formula guard, removed again on import
    assert p1["计划开工日期"] == "2024-03-01" and p1["建设阶段"] == "在建"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_export_reimports_unchanged(seeded, tmp_path, fmt):
    conn = seeded
    path = tmp_path / f"ledger.{fmt}"
    export_ledger(conn, fmt, path)
    before = snapshot(conn)
    result = import_file(conn, path)
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 0, 3)
    assert snapshot(conn) == before  # not even updated_at moved

    # into an empty ledger: the same content again (new ids and timestamps)
    conn.execute("TRUNCATE sitewatch.project_stage_history, sitewatch.project CASCADE")
    conn.commit()
    assert import_file(conn, path)["inserted"] == 3
    after = snapshot(conn)
    assert [r[1:-1] for r in after["project"]] == [r[1:-1] for r in before["project"]]
    assert after["enterprise"] == before["enterprise"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.filterwarnings("ignore:File /vsimem:RuntimeWarning")
def test_empty_ledger_exports_an_empty_file(ledger_db, fmt):  # noqa: F811
    buffer = io.BytesIO()
    export_ledger(ledger_db, fmt, buffer)
    data = buffer.getvalue()
    if fmt == "geojson":
        assert json.loads(data)["features"] == []
    elif fmt == "csv":
        assert data.decode("utf-8-sig").splitlines()[0].startswith("项目代码,")
        assert len(data.decode("utf-8-sig").splitlines()) == 1
    elif fmt == "xlsx":
        assert openpyxl.load_workbook(io.BytesIO(data)).active.max_row == 1
    else:
        assert len(gpd.read_file(io.BytesIO(data))) == 0


def test_flat_headers_are_the_published_chinese_titles():
    from spatial.collections import PROJECTS
    from spatial.ledger import columns

    names = [p.name for p in PROJECTS.properties if p.name in columns.KINDS]
    assert names == list(columns.KINDS)  # same order as the OGC collection
    for prop in PROJECTS.properties:
        if prop.name in columns.KINDS:
            assert columns.export_header(prop.name) == prop.title_zh
            assert columns.field_for_header(prop.title_zh) == prop.name


def test_unknown_format_is_refused(ledger_db, tmp_path):  # noqa: F811
    with pytest.raises(InvalidQuery):
        export_ledger(ledger_db, "kml", tmp_path / "x.kml")
