"""Ledger import against real PostGIS: every input format, upserts, rejection, repair, estimates.

Input files are built here in tmp_path.  ``ledger_db`` empties the ledger tables and loads two
districts; ``snapshot`` reads the tables back so tests can show nothing changed.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import geopandas as gpd
import openpyxl
import psycopg
import pytest
import shapely
import shapely.affinity
from psycopg import sql
from shapely.geometry import LineString, Point, Polygon, box

from spatial import codes
from spatial.errors import ValidationFailed
from spatial.ledger import import_file

DISTRICTS = {  # code -> (name, lon/lat box), SRID 4490
    "330106": ("西湖区", (120.00, 30.20, 120.15, 30.32)),
    "330108": ("滨江区", (120.15, 30.12, 120.26, 30.22)),
}
PROJECT_COLUMNS = (
    "code, name, address, district_code, permit_no, type, stage, key_livelihood, "
    "construction_unit, contractor_unit, supervision_unit, survey_unit, design_unit, investment, "
    "floor_area, storeys, planned_start, planned_finish, actual_start, actual_finish, "
    "project_manager, chief_supervisor, image_progress, hazardous_works, footprint_estimated")


@pytest.fixture
def ledger_db(conn: psycopg.Connection) -> psycopg.Connection:
    """``conn`` with empty ledger tables and the two districts."""
    conn.execute("TRUNCATE sitewatch.project_stage_history, sitewatch.project, "
                 "sitewatch.enterprise CASCADE")
    for code, (name, bounds) in DISTRICTS.items():
        conn.execute(
            "INSERT INTO sitewatch.district (code, name, geom) VALUES (%s, %s,"
            " ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4490)))"
            " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, geom = EXCLUDED.geom",
            (code, name, *bounds))
    conn.commit()
    return conn


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Everything the ledger import may touch, in a comparable form (ends the read transaction)."""
    out = {
        "project": conn.execute(
            sql.SQL("SELECT id, {}, ST_AsEWKB(footprint), updated_at"
                    " FROM sitewatch.project ORDER BY code").format(sql.SQL(PROJECT_COLUMNS))
        ).fetchall(),
        "enterprise": conn.execute(
            "SELECT credit_code, name, roles FROM sitewatch.enterprise ORDER BY 1").fetchall(),
        "history": conn.execute(
            "SELECT project_id, stage, entered_on FROM sitewatch.project_stage_history"
            " ORDER BY 1, 2").fetchall(),
    }
    conn.rollback()
    return out


def credit(region: str, serial: int) -> str:
    return codes.make_credit_code(region, serial * 10)  # it keeps serial // 10 only


def project(i: int, **overrides) -> dict:
    """One valid project with English field names; geometry a ~100 m square in 西湖区."""
    lon, lat = 120.08 + 0.003 * i, 30.25
    row = {
        "code": codes.make_project_code(2024, "330106", 47, 1, i),
        "name": f"测试项目{i}号地块",
        "address": f"杭州市西湖区文三路{i}号",
        "district_code": "330106",
        "permit_no": codes.make_permit_no("330106", date(2024, 3, 15), i),
        "type": "housing",
        "stage": "under_construction",
        "key_livelihood": None,
        "construction_unit": credit("330106", 100 + i),
        "contractor_unit": credit("330108", 200 + i),
        "supervision_unit": credit("330106", 300 + i),
        "investment": Decimal("12345.67") + i,
        "floor_area": Decimal("23456.50"),
        "storeys": 18,
        "planned_start": date(2024, 3, 1),
        "planned_finish": date(2026, 6, 30),
        "project_manager": "张三",
        "chief_supervisor": "李四",
        "image_progress": "主体结构施工至12层",
        "hazardous_works": [{"category": "excavation", "beyond_scale": True,
                             "description": "深基坑 8 m"}],
        "geometry": box(lon, lat, lon + 0.001, lat + 0.0009),
    }
    row.update(overrides)
    return row


def write_gpkg(path, rows: list[dict], *, crs: str | None = "EPSG:4490", driver: str = "GPKG"):
    records = []
    for row in rows:
        rec = {k: v for k, v in row.items() if k != "geometry"}
        for key, value in rec.items():
            if isinstance(value, (date, Decimal)):
                rec[key] = str(value)
            elif isinstance(value, list):
                rec[key] = json.dumps(value, ensure_ascii=False)
        records.append(rec)
    frame = gpd.GeoDataFrame(records, geometry=[r["geometry"] for r in rows], crs=crs)
    frame.to_file(path, driver=driver, engine="pyogrio")
    return path


ZH = {"code": "项目代码", "name": "项目名称", "address": "项目地址", "district_code": "所属区县代码",
      "permit_no": "施工许可证编号", "type": "项目类型", "stage": "项目阶段",
      "key_livelihood": "重点民生工程", "construction_unit": "建设单位", "contractor_unit": "施工单位",
      "supervision_unit": "监理单位", "investment": "总投资(万元)", "floor_area": "建筑面积（平方米）",
      "storeys": "层数", "planned_start": "计划开工日期", "planned_finish": "计划竣工日期",
      "project_manager": "项目经理", "chief_supervisor": "总监理工程师", "image_progress": "形象进度",
      "hazardous_works": "危大工程"}


def write_xlsx(path, header: list[str], rows: list[list]):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def fetch(conn: psycopg.Connection, code: str) -> dict:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    query = sql.SQL("SELECT {}, ST_AsBinary(footprint) AS wkb FROM sitewatch.project "
                    "WHERE code = %s").format(sql.SQL(PROJECT_COLUMNS))  # the test's own column list
    row = cur.execute(query, (code,)).fetchone()
    assert row is not None, code
    row["footprint"] = shapely.from_wkb(bytes(row.pop("wkb")))
    return row


def count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM sitewatch.project").fetchone()[0]


def problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[tuple[int, str]]:
    return {(e["row"], e["field"]) for e in exc.value.errors}


# -- vector formats ---------------------------------------------------------------------------

def test_gpkg_inserts_then_upserts_by_code(ledger_db, tmp_path):
    conn = ledger_db
    rows = [project(1), project(2), project(3, stage="construction_permit")]
    result = import_file(conn, write_gpkg(tmp_path / "a.gpkg", rows))
    assert (result["rows"], result["inserted"], result["updated"]) == (3, 3, 0)
    assert result["repaired"] == [] and result["estimated_footprints"] == []
    assert count(conn) == 3
    stored = fetch(conn, rows[0]["code"])
    assert stored["investment"] == Decimal("12346.67")
    assert stored["planned_finish"] == date(2026, 6, 30)
    assert stored["hazardous_works"] == rows[0]["hazardous_works"]
    assert stored["footprint"].equals_exact(shapely.MultiPolygon([rows[0]["geometry"]]), 1e-12)
    assert stored["footprint_estimated"] is False
    # placeholder enterprises with their roles
    ent = conn.execute("SELECT name, roles FROM sitewatch.enterprise WHERE credit_code = %s",
                       (rows[0]["contractor_unit"],)).fetchone()
    assert ent == (rows[0]["contractor_unit"], ["contractor"])
    assert result["enterprises_created"] == 9

    # second file: project 3 moves on and is renamed, 2 moves by 1 cm, 1 is unchanged, 4 is new
    moved = shapely.affinity.translate(rows[1]["geometry"], 1e-7)
    again = [project(1), project(2, geometry=moved), project(3, name="三号地块（改）"),
             project(4)]
    result = import_file(conn, write_gpkg(tmp_path / "b.gpkg", again))
    assert (result["inserted"], result["updated"], result["unchanged"]) == (1, 2, 1)
    assert fetch(conn, rows[1]["code"])["footprint"].equals_exact(
        shapely.MultiPolygon([moved]), 1e-12)
    assert count(conn) == 4
    changed = fetch(conn, rows[2]["code"])
    assert (changed["name"], changed["stage"]) == ("三号地块（改）", "under_construction")
    history = conn.execute(
        "SELECT p.code, h.stage FROM sitewatch.project_stage_history h"
        " JOIN sitewatch.project p ON p.id = h.project_id ORDER BY 1, 2").fetchall()
    assert sorted(history) == sorted(
        [(r["code"], "under_construction") for r in again]
        + [(rows[2]["code"], "construction_permit")])


@pytest.mark.filterwarnings("ignore:Column names longer than 10:UserWarning")
@pytest.mark.filterwarnings("ignore:Normalized/laundered field name:RuntimeWarning")
def test_shapefile_in_gauss_kruger_is_reprojected(ledger_db, tmp_path):
    conn = ledger_db
    rows = [project(5), project(6, district_code="330108",
                                geometry=box(120.20, 30.18, 120.2012, 30.181))]
    shp = tmp_path / "ledger.shp"
    frame = gpd.GeoDataFrame(
        [{"code": r["code"], "name": r["name"], "district_code": r["district_code"],
          "type": "municipal", "stage": "tendering",
          "planned_start": r["planned_start"].isoformat(),
          "contractor_unit": r["contractor_unit"]} for r in rows],
        geometry=[r["geometry"] for r in rows], crs="EPSG:4490").to_crs(4549)
    frame.to_file(shp, engine="pyogrio")  # DBF truncates contractor_unit to contractor
    result = import_file(conn, shp)
    assert result["inserted"] == 2
    for row in rows:
        stored = fetch(conn, row["code"])
        assert stored["type"] == "municipal" and stored["stage"] == "tendering"
        assert stored["contractor_unit"] == row["contractor_unit"]
        assert stored["planned_start"] == row["planned_start"]
        assert stored["footprint"].symmetric_difference(row["geometry"]).area < 1e-12


def test_geojson_points_get_estimated_footprints(ledger_db, tmp_path):
    conn = ledger_db
    features = []
    for i, geometry in enumerate([Point(120.1, 30.25), project(8)["geometry"]], start=7):
        props = {k: v for k, v in project(i).items() if k not in ("geometry", "hazardous_works")}
        props = {k: str(v) if isinstance(v, (date, Decimal)) else v for k, v in props.items()}
        features.append({"type": "Feature", "properties": props,
                         "geometry": shapely.geometry.mapping(geometry)})
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    result = import_file(conn, path)
    assert result["estimated_footprints"] == [1]
    code = project(7)["code"]
    area, contains, estimated = conn.execute(
        "SELECT ST_Area(footprint::geography), ST_Contains(footprint,"
        " ST_SetSRID(ST_MakePoint(120.1, 30.25), 4490)), footprint_estimated"
        " FROM sitewatch.project WHERE code = %s", (code,)).fetchone()
    assert 850 < area < 950 and contains and estimated
    assert fetch(conn, project(8)["code"])["footprint_estimated"] is False


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_file_without_crs_is_taken_as_cgcs2000_with_a_warning(ledger_db, tmp_path):
    result = import_file(ledger_db, write_gpkg(tmp_path / "nocrs.gpkg", [project(9)], crs=None))
    assert result["inserted"] == 1
    assert any("no CRS" in w for w in result["warnings"])


def test_repairable_geometry_is_repaired_and_reported(ledger_db, tmp_path):
    conn = ledger_db
    x, y = 120.09, 30.26
    spike = Polygon([(x, y), (x + 0.001, y), (x + 0.001, y + 0.0005), (x + 0.0015, y + 0.0005),
                     (x + 0.001, y + 0.0005), (x + 0.001, y + 0.001), (x, y + 0.001)])
    assert not spike.is_valid
    rows = [project(10), project(11, geometry=spike)]
    result = import_file(conn, write_gpkg(tmp_path / "spike.gpkg", rows))
    assert result["repaired"] == [2] and result["inserted"] == 2
    stored = fetch(conn, rows[1]["code"])["footprint"]
    assert stored.is_valid and stored.area == pytest.approx(spike.area, rel=1e-9)


# -- spreadsheets -----------------------------------------------------------------------------

def test_xlsx_with_chinese_headers_and_values(ledger_db, tmp_path):
    conn = ledger_db
    a, b = project(12), project(13)
    header = [ZH[k] for k in ZH] + ["建设单位名称", "经度", "纬度", "几何", "备注"]

    def cells(p, stage, kind, livelihood, lon, lat, wkt):
        values = {**p, "stage": stage, "type": kind, "key_livelihood": livelihood,
                  "district_code": int(p["district_code"]), "investment": float(p["investment"]),
                  "hazardous_works": "深基坑（超过一定规模）、落地式脚手架"}
        return [values[k] for k in ZH] + ["杭州城建集团有限公司", lon, lat, wkt, "备注不导入"]

    path = write_xlsx(tmp_path / "台账.xlsx", header, [
        cells(a, "在建", "公共建筑", "学校", None, None, a["geometry"].wkt),
        [None] * len(header),  # a blank row still counts in the numbering
        cells(b, "施工图审查", "住宅", "否", 120.11, 30.27, None),
    ])
    result = import_file(conn, path)
    assert (result["rows"], result["inserted"], result["estimated_footprints"]) == (2, 2, [4])
    assert any("备注" in w for w in result["warnings"])
    sa, sb = fetch(conn, a["code"]), fetch(conn, b["code"])
    assert (sa["stage"], sa["type"], sa["key_livelihood"]) == (
        "under_construction", "public_building", "school")
    assert (sb["stage"], sb["type"], sb["key_livelihood"]) == ("drawing_review", "housing", None)
    assert sa["district_code"] == "330106" and sa["investment"] == a["investment"]
    assert sa["planned_start"] == a["planned_start"] and sa["storeys"] == 18
    assert sa["hazardous_works"] == [
        {"category": "excavation", "beyond_scale": True, "description": "深基坑（超过一定规模）"},
        {"category": "scaffolding", "beyond_scale": False, "description": "落地式脚手架"}]
    assert sa["footprint"].equals_exact(shapely.MultiPolygon([a["geometry"]]), 1e-12)
    assert sb["footprint_estimated"] is True
    assert sb["footprint"].contains(Point(120.11, 30.27))
    name = conn.execute("SELECT name FROM sitewatch.enterprise WHERE credit_code = %s",
                        (a["construction_unit"],)).fetchone()[0]
    assert name == "杭州城建集团有限公司"


def test_xlsx_sheet_is_chosen_by_name(ledger_db, tmp_path):
    p = project(15)
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表为导入模板"])
    ws = wb.create_sheet("项目台账")
    ws.append(["*项目代码", "*项目名称", "*行政区划代码", "*项目类型", "*建设阶段", "几何（WKT）"])
    ws.append([p["code"], p["name"], "330106", "water", "招投标", p["geometry"].wkt])
    wb.save(tmp_path / "two-sheets.xlsx")
    result = import_file(ledger_db, tmp_path / "two-sheets.xlsx", sheet="项目台账")
    assert result["inserted"] == 1
    assert fetch(ledger_db, p["code"])["stage"] == "tendering"


def test_csv_in_gb18030_with_lon_lat(ledger_db, tmp_path):
    conn = ledger_db
    p = project(14)
    text = ("项目代码,项目名称,行政区划代码,项目类型,建设阶段,施工单位,施工单位名称,经度,纬度\n"
            f"{p['code']},{p['name']},330108,市政,立项,{p['contractor_unit']},滨江建工有限公司,"
            "120.2,30.17\n")
    path = tmp_path / "ledger.csv"
    path.write_bytes(text.encode("gb18030"))
    result = import_file(conn, path)
    assert result["inserted"] == 1 and result["estimated_footprints"] == [2]
    stored = fetch(conn, p["code"])
    assert (stored["name"], stored["type"], stored["stage"]) == (p["name"], "municipal", "approval")
    assert stored["district_code"] == "330108" and stored["footprint"].contains(Point(120.2, 30.17))
    assert conn.execute("SELECT name, roles FROM sitewatch.enterprise").fetchall() == [
        ("滨江建工有限公司", ["contractor"])]


# -- rejection --------------------------------------------------------------------------------

def test_bad_xlsx_is_rejected_row_by_row_and_nothing_changes(ledger_db, tmp_path):
    conn = ledger_db
    import_file(conn, write_gpkg(tmp_path / "base.gpkg", [project(1), project(2)]))
    before = snapshot(conn)

    bowtie = Polygon([(120.1, 30.25), (120.101, 30.251), (120.101, 30.25), (120.1, 30.251)])
    fields = ["code", "name", "district_code", "type", "stage", "contractor_unit",
              "planned_start", "planned_finish"]
    header = [ZH[f] for f in fields] + ["几何"]

    def line(p, **kw):
        p = {**p, **kw}
        return [p[f] for f in fields] + [kw.get("wkt", p["geometry"].wkt)]

    rows = [
        line(project(1), name="一号地块改名"),                        # 2: fine on its own
        line(project(20), district_code="330199"),                   # 3: unknown district
        line(project(21), contractor_unit="91330100716105852X"),      # 4: bad check character
        line(project(22)),                                            # 5: duplicate code …
        line(project(22)),                                            # 6: … of row 5
        line(project(23), wkt=bowtie.wkt),                            # 7: bowtie, area 0
        line(project(24), wkt=LineString([(120.1, 30.25), (120.11, 30.26)]).wkt),  # 8: a line
        line(project(25), stage="开工", planned_start="2024-13-01"),  # 9: enum and date
        line(project(26), planned_start=date(2025, 1, 1), planned_finish=date(2024, 1, 1)),
    ]
    with pytest.raises(ValidationFailed) as exc:
        import_file(conn, write_xlsx(tmp_path / "bad.xlsx", header, rows))
    assert problems(exc) == {(3, "district_code"), (4, "contractor_unit"), (5, "code"),
                             (6, "code"), (7, "geometry"), (8, "geometry"), (9, "stage"),
                             (9, "planned_start"), (10, "planned_finish")}
    assert all(e["reason"] for e in exc.value.errors)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert snapshot(conn) == before and count(conn) == 2


def test_bad_vector_rows_are_numbered_from_one(ledger_db, tmp_path):
    conn = ledger_db
    # a lopsided bowtie: shoelace area 1 unit, make_valid gives 5/3 units, so too different
    lopsided = shapely.affinity.translate(shapely.affinity.scale(
        Polygon([(0, 0), (2, 2), (2, 0), (0, 1)]), 0.001, 0.001, origin=(0, 0)), 120.1, 30.25)
    rows = [project(30), project(31, geometry=lopsided),
            project(32, geometry=LineString([(120.1, 30.25), (120.11, 30.26)])),
            project(33, permit_no="330106202402300101")]  # 30 February
    path = tmp_path / "mixed.geojson"
    frame = gpd.GeoDataFrame(
        [{"code": r["code"], "name": r["name"], "district_code": r["district_code"],
          "type": r["type"], "stage": r["stage"], "permit_no": r["permit_no"]} for r in rows],
        geometry=[r["geometry"] for r in rows], crs="EPSG:4326")
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    with pytest.raises(ValidationFailed) as exc:
        import_file(conn, path)
    assert problems(exc) == {(2, "geometry"), (3, "geometry"), (4, "permit_no")}
    assert "67%" in exc.value.errors[0]["reason"]
    assert count(conn) == 0


def test_missing_required_column_is_reported_on_the_header_row(ledger_db, tmp_path):
    p = project(40)
    path = tmp_path / "no-stage.csv"
    path.write_text(f"项目代码,项目名称,区划代码,项目类型,经度,纬度\n{p['code']},{p['name']},330106,"
                    "交通,120.1,30.25\n", encoding="utf-8-sig")
    with pytest.raises(ValidationFailed) as exc:
        import_file(ledger_db, path)
    assert problems(exc) == {(1, "stage")}


def test_failure_inside_a_callers_transaction_keeps_it_usable(ledger_db, tmp_path):
    conn = ledger_db
    conn.execute("SELECT 1")  # the caller has a transaction open
    bad = write_gpkg(tmp_path / "bad.gpkg", [project(50, district_code="330199")])
    with pytest.raises(ValidationFailed):
        import_file(conn, bad)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert conn.execute("SELECT count(*) FROM sitewatch.project").fetchone()[0] == 0
    conn.rollback()
