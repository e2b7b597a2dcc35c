"""The sample models of ``sample_ifc/``: reproducible, georeferenced into their project, with a
4D schedule whose every working leaf task builds something."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.element
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from bim.schedule import read_schedule_data
from spatial.sample_city import project_rows
from tests.bim.schedule.conftest import REPO, SAMPLE_IFC

FILES = ("residential_ifc4.ifc", "residential_ifc2x3.ifc")


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    return json.loads((SAMPLE_IFC / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project(manifest) -> dict:
    """The project the models belong to, from the sample city generator (no database)."""
    (code,) = {m["project_code"] for m in manifest}
    rows = project_rows(projects=300, seed=1)
    housing = sorted((r for r in rows if r["type"] == "housing" and r["stage"] == "under_construction"),
                     key=lambda r: r["code"])
    assert housing[0]["code"] == code      # the rule the script follows
    return housing[0]


@pytest.fixture(scope="module", params=FILES)
def model(request) -> ifcopenshell.file:
    return ifcopenshell.open(str(SAMPLE_IFC / request.param))


def test_regenerating_gives_the_same_bytes(tmp_path):
    subprocess.run([sys.executable, str(SAMPLE_IFC / "make_models.py"), "--out", str(tmp_path)],
                   check=True, cwd=REPO, capture_output=True, timeout=300)
    for name in FILES + ("manifest.json",):
        assert (tmp_path / name).read_bytes() == (SAMPLE_IFC / name).read_bytes(), name


def test_elements_with_geometry_and_quantities(model):
    elements = [e for e in model.by_type("IfcElement") if e.Representation is not None]
    assert len(elements) >= 100
    assert {e.is_a() for e in elements} >= {"IfcColumn", "IfcBeam", "IfcSlab", "IfcWall", "IfcFooting"}
    qto = "BaseQuantities" if model.schema == "IFC2X3" else "Qto_"
    for e in elements:
        sets = ifcopenshell.util.element.get_psets(e, qtos_only=True)
        assert any(name.startswith(qto) for name in sets), e
    storeys = {ifcopenshell.util.element.get_container(e).Name for e in elements}
    assert {"1F", "6F"} <= storeys


def _map_parameters(model: ifcopenshell.file) -> tuple[float, float, float, float, str]:
    if model.schema == "IFC2X3":
        project = model.by_type("IfcProject")[0]
        mc = ifcopenshell.util.element.get_pset(project, "ePSet_MapConversion")
        crs = ifcopenshell.util.element.get_pset(project, "ePSet_ProjectedCRS")["Name"]
        return mc["Eastings"], mc["Northings"], mc["XAxisAbscissa"], mc["XAxisOrdinate"], crs
    (mc,) = model.by_type("IfcMapConversion")
    return mc.Eastings, mc.Northings, mc.XAxisAbscissa, mc.XAxisOrdinate, mc.TargetCRS.Name


def test_georeferenced_inside_the_project(model, project):
    east, north, ax, ay, crs = _map_parameters(model)
    assert crs == "EPSG:4549" and math.isclose(math.hypot(ax, ay), 1.0, abs_tol=1e-9)
    footprint = shapely.from_wkb(bytes.fromhex(project["footprint"]))
    to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
    site = shapely.transform(footprint, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    assert math.hypot(east - site.centroid.x, north - site.centroid.y) < 0.01
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    iterator = ifcopenshell.geom.iterator(settings, model)
    assert iterator.initialize()
    hulls = []
    while True:
        verts = np.asarray(iterator.get().geometry.verts).reshape(-1, 3)
        e = east + verts[:, 0] * ax - verts[:, 1] * ay
        n = north + verts[:, 0] * ay + verts[:, 1] * ax
        hulls.append(shapely.MultiPoint(np.column_stack([e, n])).convex_hull)
        if not iterator.next():
            break
    assert len(hulls) >= 100
    assert site.contains(shapely.union_all(hulls))


def test_schedule(model):
    data = read_schedule_data(model)
    assert data.warnings == []
    assert len(data.tasks) >= 20
    assert len(data.dependencies) >= 20
    assert {d.kind for d in data.dependencies} == {"FS", "SS", "FF"}
    assert any(d.lag_days for d in data.dependencies)
    assert sum(t.is_milestone for t in data.tasks) == 3
    assert sum(t.is_summary for t in data.tasks) >= 5
    linked = {te.task_key for te in data.task_elements}
    leaves = [t for t in data.tasks if not t.is_summary and not t.is_milestone]
    assert leaves and all(t.key in linked for t in leaves)
    assert {te.relation for te in data.task_elements} == {"output", "input"}
    built = {te.global_id for te in data.task_elements if te.relation == "output"}
    assert built == {e.GlobalId for e in model.by_type("IfcElement") if e.Representation is not None}
    assert all(t.planned_start and t.planned_finish and t.baseline_start for t in data.tasks)
    if model.schema != "IFC2X3":
        assert data.schedules[0].calendar.weekdays == (1, 2, 3, 4, 5, 6)


def test_both_schemas_carry_the_same_schedule():
    a, b = (read_schedule_data(ifcopenshell.open(str(SAMPLE_IFC / f))) for f in FILES)
    def key(t):
        return (t.identification, t.name, t.is_milestone, t.planned_start, t.planned_finish,
                t.baseline_start, t.baseline_finish)

    assert sorted(map(key, a.tasks)) == sorted(map(key, b.tasks))
