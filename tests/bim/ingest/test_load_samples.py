"""Every external sample file ingests with the expected schema, counts and georeferencing.

Expected places are computed here independently: from the file's own IfcSite RefLatitude /
RefLongitude (sexagesimal arithmetic below), or from its IfcMapConversion Eastings/Northings
transformed with pyproj.  Counts come from ifcopenshell's by_type, the GLB is read with the
small reader in tests/bim/glb.py.
"""

from __future__ import annotations

import json

import ifcopenshell
import pyproj
import pytest

from bim.ingest import load_model
from tests.bim.conftest import make_project
from tests.bim.glb import read_glb
from tests.conftest import shared_file

GEOD = pyproj.Geod(ellps="GRS80")
HANGZHOU = (120.15, 30.28)

# file: (schema, georef method, expected warning codes, project placed near the file?)
SAMPLES = {
    "AC20-FZK-Haus.ifc": ("IFC4", "site_reference", set()),
    "Duplex_A_IFC2X3.ifc": ("IFC2X3", "site_reference", set()),
    "Office_A_20110811.ifc": ("IFC2X3", "site_reference", set()),
    "IfcOpenHouse_IFC4.ifc": ("IFC4", "none", {"no_georeferencing"}),
    "construction-scheduling-task.ifc": ("IFC4X3_ADD2", "none", {"no_georeferencing"}),
    "geographic-referencing-gk.ifc": ("IFC4X3_ADD2", "map_conversion", {"scale_contradiction"}),
    "geographic-referencing_IFC4.ifc": ("IFC4", "map_conversion", {"no_geometry"}),
}


def dms(angle) -> float:
    """IfcCompoundPlaneAngleMeasure → degrees, written out here rather than imported."""
    d, m, s = angle[0], angle[1], angle[2]
    micro = angle[3] if len(angle) > 3 else 0
    return d + m / 60.0 + s / 3600.0 + micro / 3_600_000_000.0


def site_lonlat(model: ifcopenshell.file) -> tuple[float, float] | None:
    site = model.by_type("IfcSite")[0]
    if not site.RefLatitude:
        return None
    return dms(site.RefLongitude), dms(site.RefLatitude)


def map_conversion_lonlat(model: ifcopenshell.file) -> tuple[float, float]:
    conv = model.by_type("IfcMapConversion")[0]
    epsg = int(conv.TargetCRS.Name.split(":")[1])
    t = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    return t.transform(conv.Eastings, conv.Northings)


def expected_place(model: ifcopenshell.file) -> tuple[float, float]:
    if model.schema != "IFC2X3" and model.by_type("IfcMapConversion"):
        return map_conversion_lonlat(model)
    return site_lonlat(model) or HANGZHOU


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


@pytest.fixture(scope="module")
def loaded(bim_url, data_dir):
    """Each sample loaded once into a project at the place the file claims (Hangzhou when none)."""
    from bim.settings import IngestSettings

    settings = IngestSettings(timeout_s=300, worker=False)
    out = {}
    with psycopg_connect(bim_url) as conn:
        for i, name in enumerate(SAMPLES):
            path = shared_file("sample_ifc_external", name)
            model = ifcopenshell.open(str(path))
            lon, lat = expected_place(model)
            code = make_project(conn, f"SAMPLE{i}", lon, lat, half_size_m=80)
            result = load_model(conn, url=bim_url, project_code=code, path=path,
                                data_dir=data_dir, settings=settings)
            out[name] = (model, result, code)
    return out


def psycopg_connect(url):
    import psycopg

    return psycopg.connect(url, autocommit=True)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_ingests(name, loaded, bim_conn):
    model, result, code = loaded[name]
    schema, method, warnings = SAMPLES[name]
    assert result["status"] == "done", result["reason"]
    assert result["schema"] == schema
    assert result["georef_method"] == method
    codes = {w["code"] for w in result["warnings"]}
    assert warnings <= codes, codes
    assert "georeferencing_suspect" not in codes, result["warnings"]
    # Element counts against ifcopenshell's own.
    skipped = {e.id() for c in ("IfcFeatureElement", "IfcVirtualElement") for e in model.by_type(c)}
    expected = [e for e in model.by_type("IfcElement") if e.id() not in skipped]
    by_class: dict[str, int] = {}
    for e in expected:
        by_class[e.is_a()] = by_class.get(e.is_a(), 0) + 1
    summary = result["summary"]
    assert summary["elements"] == len(expected)
    assert summary["elements_by_class"] == dict(sorted(by_class.items()))
    stored = dict(bim_conn.execute(
        "SELECT ifc_class, count(*) FROM sitewatch.bim_element WHERE model_id = %s GROUP BY 1",
        (result["id"],)).fetchall())
    assert stored == by_class
    assert {s["name"] for s in summary["storeys"]} == {
        s.Name or s.LongName or s.GlobalId for s in model.by_type("IfcBuildingStorey")}
    assert summary["georeferencing"]["method"] == method


@pytest.mark.parametrize("name", list(SAMPLES))
def test_mesh_names_every_element_with_geometry(name, loaded, bim_conn, data_dir):
    _, result, _ = loaded[name]
    from bim.ingest.store_file import file_path

    doc, _ = read_glb(file_path(data_dir, result["mesh_sha256"], ".glb").read_bytes())
    drawn = {n["name"] for n in doc["nodes"][1:]}
    rows = bim_conn.execute(
        "SELECT global_id, mesh_index FROM sitewatch.bim_element WHERE model_id = %s"
        " AND mesh_index IS NOT NULL", (result["id"],)).fetchall()
    assert drawn == {gid for gid, _ in rows}
    for gid, index in rows:
        assert doc["nodes"][index + 1]["name"] == gid
    assert len(rows) == result["summary"]["elements_with_geometry"]


def test_map_conversion_samples_land_within_metres(loaded, bim_conn):
    for name in ("geographic-referencing-gk.ifc", "geographic-referencing_IFC4.ifc"):
        model, result, _ = loaded[name]
        origin = tuple(result["origin"]["coordinates"][:2])
        # The local origin is where the map conversion's Eastings/Northings say (pyproj) ...
        assert metres(origin, map_conversion_lonlat(model)) < 2.0, name
        # ... and where the site's latitude/longitude say, within the file's own disagreement.
        assert metres(origin, site_lonlat(model)) < 5.0, name


def test_gk_sample_is_metres_not_kilometres(loaded, bim_conn):
    """Scale = 1000 read literally would make the 1 m proxy a kilometre wide."""
    _, result, _ = loaded["geographic-referencing-gk.ifc"]
    area, = bim_conn.execute(
        "SELECT ST_Area(footprint::geography) FROM sitewatch.bim_element WHERE model_id = %s",
        (result["id"],)).fetchone()
    assert 0.9 < area < 1.1   # the proxy's box is 1000 mm × 1000 mm
    scale = result["georef"]["scale"]
    assert scale == pytest.approx(1.0)  # map metres per model metre
    assert any("1000" in w["message"] for w in result["warnings"]
               if w["code"] == "scale_contradiction")


def test_ifc4_sample_omitted_scale_uses_units(loaded):
    _, result, _ = loaded["geographic-referencing_IFC4.ifc"]
    assert result["georef"]["scale"] == pytest.approx(1.0)
    assert result["georef"]["rotation_deg"] == pytest.approx(74.3, abs=0.01)
    assert any("Scale omitted" in n for n in result["georef"]["notes"])


@pytest.mark.parametrize("name", ["AC20-FZK-Haus.ifc", "Duplex_A_IFC2X3.ifc",
                                  "Office_A_20110811.ifc"])
def test_site_reference_samples_land_at_their_coordinates(name, loaded, bim_conn):
    model, result, _ = loaded[name]
    ref = site_lonlat(model)
    origin = tuple(result["origin"]["coordinates"][:2])
    assert metres(origin, ref) < 0.5
    # The building itself stands around that point, not kilometres away.
    lon, lat = bim_conn.execute(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(outline) c FROM sitewatch.bim_model"
        " WHERE id = %s) s", (result["id"],)).fetchone()
    assert metres((lon, lat), ref) < 100


def test_fzk_haus_is_near_karlsruhe(loaded):
    _, result, _ = loaded["AC20-FZK-Haus.ifc"]
    lon, lat = result["origin"]["coordinates"][:2]
    assert lat == pytest.approx(49.1004, abs=1e-4) and lon == pytest.approx(8.4365, abs=1e-4)
    assert result["georef"]["rotation_deg"] == pytest.approx(50.0, abs=1e-6)  # TrueNorth −50°


def test_footprints_valid_and_elevations_ordered(loaded, bim_conn):
    for name, (_, result, _) in loaded.items():
        bad = bim_conn.execute(
            "SELECT count(*) FILTER (WHERE NOT ST_IsValid(footprint)),"
            " count(*) FILTER (WHERE bottom_elevation > top_elevation),"
            " count(*) FILTER (WHERE mesh_index IS NOT NULL AND footprint IS NULL"
            "   AND ST_Area(local_footprint) > 0)"
            " FROM sitewatch.bim_element WHERE model_id = %s", (result["id"],)).fetchone()
        assert bad == (0, 0, 0), name


def test_outline_is_the_union_of_the_footprints(loaded, bim_conn):
    """The ingest makes the outline with shapely while it writes; PostGIS's own union of the
    stored footprints must give the same shape: the same area to a millionth, and neither
    sticking out of the other by more than a square centimetre (two GEOS builds may place an
    intersection a few nanodegrees apart)."""
    for name, (_, result, _) in loaded.items():
        area, union_area, gap_a, gap_b, kind = bim_conn.execute(
            "SELECT ST_Area(m.outline::geography), ST_Area(u.g::geography),"
            " ST_Area(ST_Difference(m.outline, u.g)::geography),"
            " ST_Area(ST_Difference(u.g, m.outline)::geography), GeometryType(m.outline)"
            " FROM sitewatch.bim_model m, LATERAL (SELECT ST_Union(footprint) g"
            " FROM sitewatch.bim_element WHERE model_id = m.id) u WHERE m.id = %s",
            (result["id"],)).fetchone()
        if union_area is None:   # no element has a footprint (e.g. a proxy without a body)
            assert area is None, name
            continue
        assert kind == "MULTIPOLYGON", name
        assert area == pytest.approx(union_area, rel=1e-6), name
        assert gap_a < 1e-4 and gap_b < 1e-4, (name, gap_a, gap_b)


def test_quantities_from_qto_or_geometry(loaded, bim_conn):
    _, result, _ = loaded["AC20-FZK-Haus.ifc"]
    sources = dict(bim_conn.execute(
        "SELECT quantity_source, count(*) FROM sitewatch.bim_element WHERE model_id = %s"
        " GROUP BY 1", (result["id"],)).fetchall())
    assert sources.get("base_quantities", 0) > 0   # ArchiCAD writes BaseQuantities
    _, office, _ = loaded["Office_A_20110811.ifc"]
    volume, = bim_conn.execute(
        "SELECT sum((quantities->>'volume')::float) FROM sitewatch.bim_element"
        " WHERE model_id = %s AND quantity_source = 'geometry'"
        " AND ifc_class = 'IfcWallStandardCase'", (office["id"],)).fetchone()
    # Office_A has no quantity sets: wall volumes come from the meshes (gross, openings kept).
    assert volume and volume > 50.0


def test_schedule_counts_in_summary(loaded):
    _, result, _ = loaded["construction-scheduling-task.ifc"]
    schedule = result["summary"]["schedule"]
    if schedule is None:
        pytest.skip("bim.schedule.ingest_schedules is not available")
    assert json.dumps(schedule)  # the hook's counts are stored as they were returned
