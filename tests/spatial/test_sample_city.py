"""The sample city against real PostGIS: determinism, codes, geometry, parties, dates, 危大工程.

Each check loads its own small city through ``city`` (fast enough to do per test), so the tests do
not depend on their order.  The module empties the ledger again when it is done.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import date

import psycopg
import pytest
import shapely
from psycopg import sql

from spatial import db, sample_city
from spatial.codes import PROJECT_CODE, is_valid_credit_code, is_valid_permit_no
from spatial.sample_city_data import AS_OF, CITY_OUTLINE, STAGES

N = 3000
SEED = 11
DISTRICTS = {
    "330102": "上城区", "330105": "拱墅区", "330106": "西湖区", "330108": "滨江区",
    "330109": "萧山区", "330110": "余杭区", "330111": "富阳区", "330112": "临安区",
    "330113": "临平区", "330114": "钱塘区",
}
CENTRAL = ("330102", "330105", "330106", "330108")
ROLES = {"construction", "contractor", "supervision", "survey", "design"}
CATEGORIES = {"excavation", "formwork", "lifting", "scaffolding", "demolition", "tunnelling",
              "curtain_wall", "steel_structure", "manual_piles"}
LEDGER = sql.SQL(", ").join(sql.Identifier("sitewatch", t) for t in (
    "project_stage_history", "project", "enterprise", "district"))


@pytest.fixture(scope="module", autouse=True)
def _empty_ledger_afterwards(migrated_url: str):
    yield
    with db.connect(migrated_url) as connection:
        connection.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(LEDGER))


@pytest.fixture
def city(conn: psycopg.Connection) -> dict:
    """The sample city with ``N`` projects, committed."""
    return sample_city.load(conn, projects=N, seed=SEED)


def digest(conn: psycopg.Connection) -> str:
    """SHA-256 over every ledger row as text, footprints also as ST_AsBinary."""
    h = hashlib.sha256()
    queries = (
        "SELECT d::text, ST_AsBinary(d.geom) FROM sitewatch.district d ORDER BY code",
        "SELECT e::text FROM sitewatch.enterprise e ORDER BY credit_code",
        "SELECT p::text, ST_AsBinary(p.footprint) FROM sitewatch.project p ORDER BY id",
        "SELECT h::text FROM sitewatch.project_stage_history h ORDER BY project_id, entered_on",
    )
    for query in queries:
        for row in conn.execute(query):
            for value in row:
                h.update(value if isinstance(value, bytes) else str(value).encode())
            h.update(b"\n")
    return h.hexdigest()


def scalar(conn: psycopg.Connection, query: str | sql.Composable, params: tuple = ()):
    return conn.execute(query, params).fetchone()[0]


def test_same_seed_gives_identical_rows_and_another_seed_differs(conn):
    first = sample_city.load(conn, projects=400, seed=7)
    a = digest(conn)
    sample_city.load(conn, projects=400, seed=7)
    b = digest(conn)
    sample_city.load(conn, projects=400, seed=8)
    c = digest(conn)
    assert first["projects"] == 400
    assert a == b
    assert c != a
    assert scalar(conn, "SELECT count(*) FROM sitewatch.project") == 400


def test_summary_and_real_district_codes(city, conn):
    assert city["city"] == "杭州市"
    assert (city["districts"], city["projects"]) == (10, N)
    assert city["enterprises"] == scalar(conn, "SELECT count(*) FROM sitewatch.enterprise")
    assert city["seconds"] > 0
    rows = conn.execute(
        "SELECT code, name, name_en, parent_code, synthetic_boundary, boundary_note,"
        " ST_SRID(geom), GeometryType(geom), ST_IsValid(geom) FROM sitewatch.district").fetchall()
    assert {r[0]: r[1] for r in rows} == DISTRICTS
    for code, _, name_en, parent, synthetic, note, srid, kind, valid in rows:
        assert name_en.endswith("District") and parent == "330100" and synthetic
        assert "示意" in note and "synthetic" in note.lower() and "illustrative" in note.lower()
        assert (srid, kind, valid) == (4490, "MULTIPOLYGON", True), code


def test_district_boundaries_tile_the_outline(city, conn):
    overlap, total, xmin, ymin, xmax, ymax = conn.execute(
        "SELECT sum(ST_Area(ST_Intersection(a.geom, b.geom))), "
        " (SELECT ST_Area(ST_Union(geom)) FROM sitewatch.district),"
        " (SELECT ST_XMin(ST_Extent(geom)) FROM sitewatch.district),"
        " (SELECT ST_YMin(ST_Extent(geom)) FROM sitewatch.district),"
        " (SELECT ST_XMax(ST_Extent(geom)) FROM sitewatch.district),"
        " (SELECT ST_YMax(ST_Extent(geom)) FROM sitewatch.district)"
        " FROM sitewatch.district a JOIN sitewatch.district b ON a.code < b.code").fetchone()
    assert overlap < 1e-9
    assert total == pytest.approx(shapely.Polygon(CITY_OUTLINE).area, rel=1e-9)  # no gaps
    assert 119.49 <= xmin and xmax <= 120.76 and 29.84 <= ymin and ymax <= 30.56
    # Each synthetic cell holds its district's real centre area, e.g. 西湖 holds West Lake.
    assert scalar(conn, "SELECT code FROM sitewatch.district"
                  " WHERE ST_Contains(geom, ST_SetSRID(ST_Point(120.14, 30.245), 4490))") in (
        "330106", "330102")


def test_enterprises_have_valid_credit_codes_and_roles(city, conn):
    rows = conn.execute("SELECT credit_code, name, roles FROM sitewatch.enterprise").fetchall()
    assert len(rows) >= 60
    assert all(is_valid_credit_code(code) for code, _, _ in rows)
    assert all(code[2:8] in DISTRICTS for code, _, _ in rows)
    assert len({name for _, name, _ in rows}) == len(rows)
    assert all(name.endswith("有限公司") for _, name, _ in rows)
    assert all(roles and set(roles) <= ROLES for _, _, roles in rows)
    assert {r for _, _, roles in rows for r in roles} == ROLES


def test_project_codes_and_permit_numbers(city, conn):
    rows = conn.execute(
        "SELECT p.code, p.district_code, p.permit_no, p.stage, h.entered_on"
        " FROM sitewatch.project p LEFT JOIN sitewatch.project_stage_history h"
        "  ON h.project_id = p.id AND h.stage = 'construction_permit'").fetchall()
    assert len(rows) == N
    assert len({r[0] for r in rows}) == N
    permits = []
    for code, district, permit, stage, permitted_on in rows:
        assert PROJECT_CODE.match(code) and code.split("-")[1] == district
        if STAGES.index(stage) < STAGES.index("construction_permit"):
            assert permit is None and permitted_on is None
            continue
        assert is_valid_permit_no(permit) and permit.startswith(district)
        assert permit[6:14] == permitted_on.strftime("%Y%m%d")
        permits.append(permit)
    assert permits and len(set(permits)) == len(permits)


def test_footprints_are_valid_rectangles_inside_their_district(city, conn):
    bad = scalar(conn, """
        SELECT count(*) FROM sitewatch.project p JOIN sitewatch.district d ON d.code = p.district_code
        WHERE NOT ST_IsValid(p.footprint) OR NOT ST_Within(p.footprint, d.geom)
           OR ST_SRID(p.footprint) <> 4490 OR GeometryType(p.footprint) <> 'MULTIPOLYGON'
           OR ST_NumGeometries(p.footprint) <> 1 OR ST_NPoints(p.footprint) <> 5""")
    assert bad == 0
    # Sides in metres (Gauss-Krüger zone 40, EPSG:4549), independently of the generator.
    rows = conn.execute("""
        WITH r AS (SELECT type, ST_ExteriorRing(ST_GeometryN(ST_Transform(footprint, 4549), 1)) g
                   FROM sitewatch.project)
        SELECT type, ST_Distance(ST_PointN(g, 1), ST_PointN(g, 2)),
               ST_Distance(ST_PointN(g, 2), ST_PointN(g, 3)),
               ST_Distance(ST_PointN(g, 1), ST_PointN(g, 3)) FROM r""").fetchall()
    for kind, a, b, diagonal in rows:
        assert abs(a * a + b * b - diagonal * diagonal) < 1e-3 * diagonal * diagonal  # right angle
        assert 11 < min(a, b) and max(a, b) < 2600
        if kind not in ("municipal", "transport", "water"):
            assert max(a, b) <= 151
    assert max(max(a, b) for k, a, b, _ in rows if k in ("municipal", "transport")) > 300


def test_more_projects_in_central_districts(city, conn):
    rows = conn.execute(
        "SELECT d.code, count(p.id), ST_Area(d.geom::geography) / 1e6 FROM sitewatch.district d"
        " LEFT JOIN sitewatch.project p ON p.district_code = d.code GROUP BY d.code").fetchall()
    density = {code: n / km2 for code, n, km2 in rows}
    central = sum(n for code, n, _ in rows if code in CENTRAL)
    assert central > 0.4 * N
    assert min(density[c] for c in CENTRAL) > max(v for c, v in density.items() if c not in CENTRAL)


def test_parties_resolve_to_enterprises_with_the_matching_role(city, conn):
    for role in ROLES:
        column = f"{role}_unit"
        wrong = scalar(conn, sql.SQL("""
            SELECT count(*) FROM sitewatch.project p WHERE p.{c} IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM sitewatch.enterprise e
                WHERE e.credit_code = p.{c} AND %s = ANY(e.roles))""").format(
            c=sql.Identifier(column)), (role,))
        assert wrong == 0, role
    by_stage = conn.execute("""
        SELECT array_position(%s::text[], stage) - 1, construction_unit IS NOT NULL,
               contractor_unit IS NOT NULL, supervision_unit IS NOT NULL, design_unit IS NOT NULL,
               project_manager IS NOT NULL, chief_supervisor IS NOT NULL
        FROM sitewatch.project""", (list(STAGES),)).fetchall()
    tendered = STAGES.index("supervision_registration")
    for k, owner, contractor, supervisor, designer, manager, chief in by_stage:
        assert owner
        assert contractor == supervisor == manager == chief == (k >= tendered)
        assert designer == (k >= 1)
    names = [r[0] for r in conn.execute("SELECT project_manager FROM sitewatch.project"
                                        " WHERE project_manager IS NOT NULL")]
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", name) for name in names)
    # The foreign keys dropped for the bulk load are back.
    fks = scalar(conn, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN"
                 " ('sitewatch.project'::regclass, 'sitewatch.project_stage_history'::regclass)")
    assert fks == 7


def test_stage_history_and_dates_follow_the_stage(city, conn):
    rows = conn.execute("""
        SELECT array_position(%(stages)s::text[], p.stage) - 1, p.planned_start, p.planned_finish,
               p.actual_start, p.actual_finish,
               array_agg(array_position(%(stages)s::text[], h.stage) - 1 ORDER BY h.entered_on),
               array_agg(h.entered_on ORDER BY h.entered_on)
        FROM sitewatch.project p JOIN sitewatch.project_stage_history h ON h.project_id = p.id
        GROUP BY p.id""", {"stages": list(STAGES)}).fetchall()
    assert len(rows) == N
    started, finished = STAGES.index("under_construction"), STAGES.index("completion_acceptance")
    for k, p_start, p_finish, a_start, a_finish, stages, days in rows:
        assert stages == list(range(k + 1))  # every stage reached, in order
        assert all(x < y for x, y in zip(days, days[1:]))  # strictly increasing
        assert days[-1] <= AS_OF
        assert p_start is not None and p_finish > p_start
        assert (a_start is not None) == (k >= started)
        assert (a_finish is not None) == (k >= finished)
        if a_start:
            assert a_start == days[started] and a_start > days[STAGES.index("construction_permit")]
        if a_finish:
            assert a_finish == days[finished] and a_finish > a_start
    counts = {k: sum(1 for r in rows if r[0] == k) for k in range(len(STAGES))}
    assert max(counts, key=counts.get) == started and counts[started] > 0.3 * N
    assert all(counts.values())
    assert scalar(conn, "SELECT max(recorded_at) FROM sitewatch.project_stage_history").date() \
        <= AS_OF


def test_key_livelihood_matches_type_and_name(city, conn):
    rows = conn.execute("SELECT key_livelihood, type, name FROM sitewatch.project").fetchall()
    flagged = [r for r in rows if r[0]]
    assert 0.05 * N < len(flagged) < 0.16 * N
    for flag, kind, name in flagged:
        if flag == "affordable_housing":
            assert kind == "housing" and re.search("安置|保障", name), name
        elif flag == "school":
            assert kind == "public_building" and re.search("学|幼儿园", name), name
        else:
            assert flag == "hospital" and kind == "public_building"
            assert re.search("医院|卫生|保健院", name), name
    assert {r[1] for r in rows} == {"housing", "public_building", "municipal", "industrial",
                                    "transport", "water"}


def test_hazardous_works_follow_the_thresholds(city, conn):
    rows = conn.execute("SELECT stage, hazardous_works FROM sitewatch.project").fetchall()
    seen, beyond = set(), set()
    for stage, works in rows:
        if STAGES.index(stage) < STAGES.index("drawing_review"):
            assert works == []
        for w in works:
            cat, big = w["category"], w["beyond_scale"]
            assert cat in CATEGORIES and isinstance(big, bool) and w["description"]
            seen.add(cat)
            if big:
                beyond.add(cat)
            if cat in ("excavation", "manual_piles"):
                assert str(w["depth_m"]) in w["description"]
            if cat == "excavation":
                assert w["depth_m"] >= 3 and big == (w["depth_m"] >= 5)
            elif cat == "manual_piles":
                assert big == (w["depth_m"] >= 16)
            elif cat == "formwork":
                h, s = w["height_m"], w["span_m"]
                assert (h >= 5 or s >= 10) and big == (h >= 8 or s >= 18)
            elif cat == "lifting" and w["kind"] == "crane_installation":
                assert big == (w["load_kn"] >= 300 or w["height_m"] >= 200)
            elif cat == "lifting":
                assert w["load_kn"] >= 10 and big == (w["load_kn"] >= 100)
            elif cat == "scaffolding":
                floor = {"ground": 24, "climbing": 0, "cantilever": 0}[w["kind"]]
                limit = {"ground": 50, "climbing": 150, "cantilever": 20}[w["kind"]]
                assert w["height_m"] >= floor and big == (w["height_m"] >= limit)
            elif cat == "curtain_wall":
                assert big == (w["height_m"] >= 50)
            elif cat == "steel_structure":
                assert big == (w["span_m"] >= 36)
            elif cat == "tunnelling":
                assert big
    assert seen == CATEGORIES
    assert {"excavation", "formwork", "lifting", "tunnelling"} <= beyond


def test_figures_and_progress_text(city, conn):
    rows = conn.execute(
        "SELECT stage, type, investment, floor_area, storeys, image_progress"
        " FROM sitewatch.project").fetchall()
    for stage, kind, investment, floor_area, storeys, progress in rows:
        assert investment > 0 and progress
        if kind in ("housing", "public_building", "industrial"):
            assert floor_area > 0 and storeys >= 1
        match = re.fullmatch(r"主体结构施工至(\d+)层", progress)
        if match:
            assert stage == "under_construction" and 1 <= int(match.group(1)) <= storeys
        if stage in ("approval", "planning_permit", "tendering"):
            assert "尚未开工" in progress
    investments = sorted(float(r[2]) for r in rows)
    assert 1_000 < investments[len(rows) // 2] < 100_000  # median, 万元


def test_identity_continues_after_the_load(city, conn):
    new_id = scalar(conn, """
        INSERT INTO sitewatch.project (code, name, district_code, type, stage, footprint)
        VALUES ('T-1', 'test', '330106', 'housing', 'approval',
                ST_Multi(ST_MakeEnvelope(120.10, 30.25, 120.101, 30.251, 4490))) RETURNING id""")
    conn.rollback()
    assert new_id == N + 1


def test_twenty_thousand_projects_load_and_report_the_rate(conn):
    started = time.perf_counter()
    summary = sample_city.load(conn, projects=20_000, seed=3)
    wall = time.perf_counter() - started
    rate = summary["projects"] / summary["seconds"]
    print(f"\nsample city: 20000 projects in {summary['seconds']:.2f} s "
          f"({rate:,.0f} projects/s; wall {wall:.2f} s)")
    assert scalar(conn, "SELECT count(*) FROM sitewatch.project") == 20_000
    assert scalar(conn, """
        SELECT count(*) FROM sitewatch.project p JOIN sitewatch.district d ON d.code = p.district_code
        WHERE NOT ST_Within(p.footprint, d.geom)""") == 0
    assert scalar(conn, "SELECT count(DISTINCT code) FROM sitewatch.project") == 20_000
    assert scalar(conn, "SELECT min(entered_on) FROM sitewatch.project_stage_history") > date(2010, 1, 1)
