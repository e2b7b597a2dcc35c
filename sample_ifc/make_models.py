"""Author SiteWatch's sample IFC models: a georeferenced residential building with a 4D schedule.

Run from the repository root::

    .venv/bin/python sample_ifc/make_models.py

writes ``sample_ifc/residential_ifc4.ifc`` and ``sample_ifc/residential_ifc2x3.ifc``.  The
building stands in a fixed project of the sample city (``sitewatch sample city``, 300 projects,
seed 1): the first ``under_construction`` housing project by code.  Its footprint's centroid, in
CGCS2000 / 3-degree Gauss-Krüger CM 120E (EPSG:4549), is the model origin; the building's long
axis follows the site's long side.  Everything is deterministic: GlobalIds come from a seeded
generator, dates from the ledger, and the header time is fixed, so running it again gives the
same bytes (with the same ifcopenshell, numpy, GEOS and PROJ).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import sys
import uuid
from datetime import date
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.material
import ifcopenshell.api.owner
import ifcopenshell.api.profile
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.type
import ifcopenshell.api.unit
import ifcopenshell.guid
import ifcopenshell.util.geolocation
import numpy as np
import shapely
from pyproj import Transformer

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import schedule_plan  # noqa: E402  (next to this script)

from spatial.sample_city import project_rows  # noqa: E402

CITY_PROJECTS, CITY_SEED = 300, 1
GUID_SEED = {"IFC4": 20250630, "IFC2X3": 20250631}
HEADER_TIME = "2025-06-30T12:00:00"
CRS, GK_EPSG = "EPSG:4549", 4549
STOREYS, STOREY_HEIGHT = 6, 3.0
NX, NY = 5, 2                      # bays along the long and the short axis
COLUMN, BEAM_W, BEAM_H, WALL_T, SLAB_T = 0.5, 0.3, 0.6, 0.2, 0.15
FOOTING, FOOTING_H = 1.6, 0.6
ELEVATION = 8.0                    # ground level above the vertical datum (m)
# Loaded in this order: the IFC4 model becomes the project's latest version.
OUT = {"IFC2X3": HERE / "residential_ifc2x3.ifc", "IFC4": HERE / "residential_ifc4.ifc"}


def pick_project() -> dict:
    """The first under-construction housing project (by code) of the default sample city."""
    rows = project_rows(projects=CITY_PROJECTS, seed=CITY_SEED)
    housing = [r for r in rows if r["type"] == "housing" and r["stage"] == "under_construction"]
    return min(housing, key=lambda r: r["code"])


def site_frame(row: dict) -> dict:
    """Centroid (E, N in EPSG:4549 and lon/lat), long-side direction and sizes of the footprint."""
    footprint = shapely.from_wkb(bytes.fromhex(row["footprint"]))
    to_gk = Transformer.from_crs(4490, GK_EPSG, always_xy=True)
    gk = shapely.transform(footprint, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    rect = np.asarray(gk.minimum_rotated_rectangle.exterior.coords)
    sides = [rect[1] - rect[0], rect[2] - rect[1]]
    lengths = [float(np.hypot(*s)) for s in sides]
    long_side = sides[int(np.argmax(lengths))]
    theta = math.atan2(long_side[1], long_side[0])
    if theta <= -math.pi / 2:
        theta += math.pi
    elif theta > math.pi / 2:
        theta -= math.pi
    centre = gk.centroid
    lon, lat = Transformer.from_crs(GK_EPSG, 4490, always_xy=True).transform(centre.x, centre.y)
    return {"easting": round(centre.x, 3), "northing": round(centre.y, 3), "theta": theta,
            "long": max(lengths), "short": min(lengths), "lon": lon, "lat": lat}


@contextlib.contextmanager
def deterministic(model: ifcopenshell.file, seed: int):
    """Seeded GlobalIds and one fixed owner history (IFC2X3 needs one; IFC4 gets none)."""
    rng = random.Random(seed)

    def new_guid() -> str:
        return ifcopenshell.guid.compress(uuid.UUID(int=rng.getrandbits(128), version=4).hex)

    owner = None
    owners = ifcopenshell.api.owner
    saved = ifcopenshell.guid.new, owners.create_owner_history, owners.update_owner_history
    ifcopenshell.guid.new = new_guid
    owners.create_owner_history = lambda file: owner
    owners.update_owner_history = lambda file, element: owner  # no "modified now" histories
    try:
        if model.schema == "IFC2X3":
            person = model.create_entity("IfcPerson", Id="sitewatch", FamilyName="SiteWatch")
            org = model.create_entity("IfcOrganization", Id="sitewatch", Name="SiteWatch")
            app = model.create_entity("IfcApplication", ApplicationDeveloper=org, Version="0.1",
                                      ApplicationFullName="SiteWatch sample_ifc/make_models.py",
                                      ApplicationIdentifier="sitewatch-make-models")
            user = model.create_entity("IfcPersonAndOrganization", ThePerson=person, TheOrganization=org)
            owner = model.create_entity("IfcOwnerHistory", OwningUser=user, OwningApplication=app,
                                        ChangeAction="ADDED", CreationDate=1751256000)
        yield new_guid, owner
    finally:
        ifcopenshell.guid.new, owners.create_owner_history, owners.update_owner_history = saved


def _matrix(origin, x_axis=(1, 0, 0), z_axis=(0, 0, 1)) -> np.ndarray:
    x, z = np.asarray(x_axis, float), np.asarray(z_axis, float)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, np.cross(z, x), z, origin
    return m


def _qto(model, element, name: str, values: dict) -> None:
    qto = ifcopenshell.api.pset.add_qto(model, product=element, name=name)
    ifcopenshell.api.pset.edit_qto(model, qto=qto, properties={k: float(v) for k, v in values.items()})


class Builder:
    """Spatial structure, typed elements with extruded geometry, quantities and materials."""

    def __init__(self, model: ifcopenshell.file, frame: dict, row: dict) -> None:
        self.model, self.frame, self.row = model, frame, row
        self.groups: dict[str, list] = {}
        bay = min(6.0, 0.6 * frame["long"] / NX, 0.6 * frame["short"] / NY)
        self.bay = round(bay, 1)
        self.xs = [(i - NX / 2) * self.bay for i in range(NX + 1)]
        self.ys = [(j - NY / 2) * self.bay for j in range(NY + 1)]
        self.qto = "BaseQuantities" if model.schema == "IFC2X3" else None

    def structure(self) -> None:
        m, api = self.model, ifcopenshell.api
        project = api.root.create_entity(m, ifc_class="IfcProject", name=self.row["name"])
        project.LongName = f"{self.row['name']}（示例模型 sample model）"
        project.ObjectType = self.row["code"]
        api.unit.assign_unit(m, length={"is_metric": True, "raw": "METERS"})
        model3d = api.context.add_context(m, context_type="Model")
        self.body = api.context.add_context(m, context_type="Model", context_identifier="Body",
                                            target_view="MODEL_VIEW", parent=model3d)
        site = api.root.create_entity(m, ifc_class="IfcSite", name="场地 Site")
        site.RefLatitude = ifcopenshell.util.geolocation.dd2dms(self.frame["lat"], use_us=True)
        site.RefLongitude = ifcopenshell.util.geolocation.dd2dms(self.frame["lon"], use_us=True)
        site.RefElevation = ELEVATION
        building = api.root.create_entity(m, ifc_class="IfcBuilding", name="1#住宅楼 Block 1")
        api.aggregate.assign_object(m, products=[site], relating_object=project)
        api.aggregate.assign_object(m, products=[building], relating_object=site)
        for product in (site, building):
            api.geometry.edit_object_placement(m, product=product, matrix=np.eye(4))
        self.storeys = {}
        levels = [("基础 Foundation", -1.1)] + [(f"{k}F", (k - 1) * STOREY_HEIGHT)
                                                for k in range(1, STOREYS + 1)]
        for name, z in levels:
            storey = api.root.create_entity(m, ifc_class="IfcBuildingStorey", name=name)
            storey.Elevation = z
            api.aggregate.assign_object(m, products=[storey], relating_object=building)
            api.geometry.edit_object_placement(m, product=storey, matrix=_matrix((0, 0, z)))
            self.storeys[name] = storey
        self.georeference()

    def georeference(self) -> None:
        m, f = self.model, self.frame
        api = ifcopenshell.api.georeference
        api.add_georeferencing(m)
        operation = {"Eastings": f["easting"], "Northings": f["northing"], "OrthogonalHeight": ELEVATION,
                     "XAxisAbscissa": round(math.cos(f["theta"]), 12),
                     "XAxisOrdinate": round(math.sin(f["theta"]), 12), "Scale": 1.0}
        crs = {"Name": CRS, "Description": "CGCS2000 / 3-degree Gauss-Kruger CM 120E",
               "GeodeticDatum": "CGCS2000", "MapProjection": "Gauss-Kruger", "MapZone": "CM 120E"}
        if m.schema != "IFC2X3":
            crs["MapUnit"] = self._metre()
        api.edit_georeferencing(m, coordinate_operation=operation, projected_crs=crs)
        api.edit_true_north(m, true_north=(math.sin(f["theta"]), math.cos(f["theta"])))

    def _metre(self):
        return next(u for u in self.model.by_type("IfcSIUnit") if u.UnitType == "LENGTHUNIT")

    def _type(self, ifc_class: str, name: str, representation) -> ifcopenshell.entity_instance:
        element_type = ifcopenshell.api.root.create_entity(self.model, ifc_class=ifc_class, name=name)
        ifcopenshell.api.geometry.assign_representation(self.model, product=element_type,
                                                        representation=representation)
        return element_type

    def _profile(self, x: float, y: float, depth: float):
        profile = ifcopenshell.api.profile.add_parameterized_profile(self.model, "IfcRectangleProfileDef")
        profile.XDim, profile.YDim = x, y
        if self.model.schema == "IFC2X3":  # Position is required in IFC2X3, optional in IFC4
            profile.Position = self.model.create_entity(
                "IfcAxis2Placement2D", Location=self.model.create_entity("IfcCartesianPoint", (0.0, 0.0)))
        return ifcopenshell.api.geometry.add_profile_representation(
            self.model, context=self.body, profile=profile, depth=depth)

    def _place(self, ifc_class, name, storey, matrix, *, group, element_type=None, representation=None,
               predefined_type=None, material=None, quantities=None, pset=None):
        m, api = self.model, ifcopenshell.api
        element = api.root.create_entity(m, ifc_class=ifc_class, name=name, predefined_type=predefined_type)
        api.spatial.assign_container(m, products=[element], relating_structure=self.storeys[storey])
        api.geometry.edit_object_placement(m, product=element, matrix=matrix)
        if element_type is not None:
            api.type.assign_type(m, related_objects=[element], relating_type=element_type)
        if representation is not None:
            api.geometry.assign_representation(m, product=element, representation=representation)
        if material is not None:
            api.material.assign_material(m, products=[element], material=material)
        if quantities:
            _qto(m, element, self.qto or quantities[0], quantities[1])
        if pset:
            props = api.pset.add_pset(m, product=element, name=pset[0])
            api.pset.edit_pset(m, pset=props, properties=pset[1])
        self.groups.setdefault(group, []).append(element)
        return element

    def elements(self) -> None:
        m, b = self.model, self.bay
        category = (lambda c: None) if m.schema == "IFC2X3" else (lambda c: c)  # 2X3: no Category
        mat = {n: ifcopenshell.api.material.add_material(m, name=n, category=category(c)) for n, c in (
            ("C30 混凝土 concrete", "concrete"), ("C35 混凝土 concrete", "concrete"),
            ("A5.0 加气混凝土砌块 AAC block", "block"))}
        beam_len, wall_len = b - COLUMN, b - COLUMN
        wall_h = STOREY_HEIGHT - BEAM_H
        column_t = self._type("IfcColumnType", "KZ1 500x500", self._profile(COLUMN, COLUMN, STOREY_HEIGHT))
        beam_t = self._type("IfcBeamType", f"KL1 300x600 L={beam_len:g}",
                            self._profile(BEAM_W, BEAM_H, beam_len))
        wall_t = self._type("IfcWallType", "200 加气混凝土砌块墙 AAC wall",
                            ifcopenshell.api.geometry.add_wall_representation(
                                m, context=self.body, length=wall_len, height=wall_h, thickness=WALL_T,
                                offset=-WALL_T / 2))
        grid = [(x, y) for y in self.ys for x in self.xs]
        for n, (x, y) in enumerate(grid, 1):
            self._place("IfcFooting", f"DJ{n} 独立基础", "基础 Foundation",
                        _matrix((x, y, -1.1)), group="footings", predefined_type="PAD_FOOTING",
                        representation=self._profile(FOOTING, FOOTING, FOOTING_H),
                        material=mat["C30 混凝土 concrete"],
                        quantities=("Qto_FootingBaseQuantities", {
                            "Length": FOOTING, "Width": FOOTING, "Height": FOOTING_H,
                            "CrossSectionArea": FOOTING ** 2, "GrossVolume": FOOTING ** 2 * FOOTING_H}))
        x0, x1, y0, y1 = self.xs[0] - 0.25, self.xs[-1] + 0.25, self.ys[0] - 0.25, self.ys[-1] + 0.25
        outline = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        area, perimeter = (x1 - x0) * (y1 - y0), 2 * ((x1 - x0) + (y1 - y0))
        slab_q = {"Width": SLAB_T, "Depth": SLAB_T, "Perimeter": perimeter, "GrossArea": area,
                  "NetArea": area, "GrossVolume": area * SLAB_T, "NetVolume": area * SLAB_T}
        self._place("IfcSlab", "首层地坪 Ground slab", "1F", _matrix((0, 0, -SLAB_T)), group="ground_slab",
                    predefined_type="BASESLAB", material=mat["C30 混凝土 concrete"],
                    representation=ifcopenshell.api.geometry.add_slab_representation(
                        m, context=self.body, depth=SLAB_T, polyline=outline),
                    quantities=("Qto_SlabBaseQuantities", slab_q))
        for k in range(1, STOREYS + 1):
            z, storey = (k - 1) * STOREY_HEIGHT, f"{k}F"
            for n, (x, y) in enumerate(grid, 1):
                self._place("IfcColumn", f"KZ1-{k}-{n}", storey, _matrix((x, y, z)), group=f"columns_{k}",
                            element_type=column_t, material=mat["C35 混凝土 concrete"],
                            quantities=("Qto_ColumnBaseQuantities", {
                                "Length": STOREY_HEIGHT, "CrossSectionArea": COLUMN ** 2,
                                "OuterSurfaceArea": 4 * COLUMN * STOREY_HEIGHT,
                                "GrossVolume": COLUMN ** 2 * STOREY_HEIGHT,
                                "NetVolume": COLUMN ** 2 * STOREY_HEIGHT}),
                            pset=("Pset_ColumnCommon", {"Reference": "KZ1", "LoadBearing": True,
                                                        "IsExternal": False}))
            beam_q = ("Qto_BeamBaseQuantities", {
                "Length": beam_len, "CrossSectionArea": BEAM_W * BEAM_H,
                "OuterSurfaceArea": 2 * (BEAM_W + BEAM_H) * beam_len,
                "GrossVolume": BEAM_W * BEAM_H * beam_len, "NetVolume": BEAM_W * BEAM_H * beam_len})
            top = z + STOREY_HEIGHT - BEAM_H / 2
            xs, ys = self.xs, self.ys
            spans = [((x + COLUMN / 2, y, top), (0, 1, 0), (1, 0, 0)) for y in ys for x in xs[:-1]]
            spans += [((x, y + COLUMN / 2, top), (-1, 0, 0), (0, 1, 0)) for x in xs for y in ys[:-1]]
            for n, (origin, x_axis, z_axis) in enumerate(spans, 1):
                self._place("IfcBeam", f"KL1-{k}-{n}", storey, _matrix(origin, x_axis, z_axis),
                            group=f"beams_{k}", element_type=beam_t, material=mat["C30 混凝土 concrete"],
                            quantities=beam_q)
            self._place("IfcSlab", f"{k}层顶板 Storey {k} slab", storey,
                        _matrix((0, 0, z + STOREY_HEIGHT - SLAB_T)), group=f"slab_{k}",
                        predefined_type="ROOF" if k == STOREYS else "FLOOR",
                        material=mat["C30 混凝土 concrete"], quantities=("Qto_SlabBaseQuantities", slab_q),
                        representation=ifcopenshell.api.geometry.add_slab_representation(
                            m, context=self.body, depth=SLAB_T, polyline=outline))
            walls = [((x + COLUMN / 2, y, z), (1, 0, 0)) for y in (ys[0], ys[-1]) for x in xs[:-1]]
            walls += [((x, y + COLUMN / 2, z), (0, 1, 0)) for x in (xs[0], xs[-1]) for y in ys[:-1]]
            for n, (origin, x_axis) in enumerate(walls, 1):
                self._place("IfcWall", f"外墙-{k}-{n}", storey, _matrix(origin, x_axis), group=f"walls_{k}",
                            element_type=wall_t, material=mat["A5.0 加气混凝土砌块 AAC block"],
                            quantities=("Qto_WallBaseQuantities", {
                                "Length": wall_len, "Width": WALL_T, "Height": wall_h,
                                "GrossFootprintArea": wall_len * WALL_T, "GrossSideArea": wall_len * wall_h,
                                "NetSideArea": wall_len * wall_h, "GrossVolume": wall_len * WALL_T * wall_h,
                                "NetVolume": wall_len * WALL_T * wall_h}),
                            pset=("Pset_WallCommon", {"IsExternal": True, "LoadBearing": False}))


def build(schema: str, row: dict, frame: dict) -> ifcopenshell.file:
    model = ifcopenshell.file(schema=schema)
    with deterministic(model, GUID_SEED[schema]) as (new_guid, owner):
        builder = Builder(model, frame, row)
        builder.structure()
        builder.elements()
        start = date.fromisoformat(row["planned_start"])
        finish = date.fromisoformat(row["planned_finish"])
        baseline = schedule_plan.make_plan(start, finish, STOREYS)
        delays = {f"2.{k}.3": 2 for k in range(4, STOREYS + 1)}  # rainy-season slip (梅雨季)
        current = schedule_plan.make_plan(start, finish, STOREYS, delays=delays,
                                          fitout_days=baseline.fitout_days)
        if schema == "IFC2X3":
            schedule_plan.write_ifc2x3(model, current, baseline, builder.groups, owner, new_guid)
        else:
            schedule_plan.write_ifc4(model, current, baseline, builder.groups)
    model.header.file_name.name = OUT[schema].name
    model.header.file_name.time_stamp = HEADER_TIME
    model.header.file_name.author = ("SiteWatch",)
    model.header.file_name.organization = ("SiteWatch",)
    model.header.file_description.description = ("ViewDefinition [DesignTransferView]",)
    return model


def main(out_dir: Path = HERE) -> None:
    row = pick_project()
    frame = site_frame(row)
    manifest = []
    for schema, default in OUT.items():
        path = Path(out_dir) / default.name
        model = build(schema, row, frame)
        model.write(str(path))
        manifest.append({"file": path.name, "schema": schema, "project_code": row["code"],
                         "city": {"projects": CITY_PROJECTS, "seed": CITY_SEED}})
        products = [p for p in model.by_type("IfcElement") if p.Representation is not None]
        print(f"{path.name}: {schema}, project {row['code']} {row['name']}, "
              f"{len(products)} elements, {len(model.by_type('IfcTask'))} IfcTask, "
              f"E {frame['easting']} N {frame['northing']}, "
              f"rotation {math.degrees(frame['theta']):.2f} deg, bay {Builder(model, frame, row).bay} m")
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    (Path(out_dir) / "manifest.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: sample_ifc/)")
    main(parser.parse_args().out)
