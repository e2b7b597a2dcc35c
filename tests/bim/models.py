"""Small IFC models built in memory per schema (as IfcOpenShell's test/bootstrap.py does)."""

from __future__ import annotations

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.owner
import ifcopenshell.api.owner.settings
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit


def _install_owner_hooks() -> None:
    """Owner-history hooks that answer from the file's own user and application, and defer to
    whatever was configured before for other files (so other tests' settings keep working)."""
    settings = ifcopenshell.api.owner.settings
    if getattr(settings.get_user, "sitewatch_tests", False):
        return
    previous_user, previous_app = settings.get_user, settings.get_application

    def get_user(f: ifcopenshell.file):
        found = f.by_type("IfcPersonAndOrganization")
        return found[0] if found else previous_user(f)

    def get_application(f: ifcopenshell.file):
        found = f.by_type("IfcApplication")
        return found[0] if found else previous_app(f)

    get_user.sitewatch_tests = True  # type: ignore[attr-defined]
    settings.get_user, settings.get_application = get_user, get_application


def make_model(schema: str = "IFC4", *, unit: str = "METRE", prefix: str | None = None,
               walls: int = 1) -> ifcopenshell.file:
    """Project → site → building → storey with ``walls`` 5 m × 0.2 m × 3 m walls along +X."""
    model = ifcopenshell.file(schema=schema)
    if schema == "IFC2X3":  # IFC2X3 requires owner history on every rooted entity
        person = model.createIfcPerson(FamilyName="Tester")
        org = model.createIfcOrganization(Name="SiteWatch")
        model.createIfcPersonAndOrganization(person, org)
        model.createIfcApplication(org, "1", "tests", "tests")
        _install_owner_hooks()
    project = ifcopenshell.api.root.create_entity(model, ifc_class="IfcProject", name="Test")
    length = ifcopenshell.api.unit.add_si_unit(model, unit_type="LENGTHUNIT", prefix=prefix)
    ifcopenshell.api.unit.assign_unit(model, units=[length])
    context = ifcopenshell.api.context.add_context(model, context_type="Model")
    body = ifcopenshell.api.context.add_context(model, context_type="Model",
                                                context_identifier="Body",
                                                target_view="MODEL_VIEW", parent=context)
    site = ifcopenshell.api.root.create_entity(model, ifc_class="IfcSite", name="Site")
    building = ifcopenshell.api.root.create_entity(model, ifc_class="IfcBuilding", name="B")
    storey = ifcopenshell.api.root.create_entity(model, ifc_class="IfcBuildingStorey", name="L1")
    ifcopenshell.api.aggregate.assign_object(model, relating_object=project, products=[site])
    ifcopenshell.api.aggregate.assign_object(model, relating_object=site, products=[building])
    ifcopenshell.api.aggregate.assign_object(model, relating_object=building, products=[storey])
    for i in range(walls):
        wall = ifcopenshell.api.root.create_entity(model, ifc_class="IfcWall", name=f"W{i}")
        ifcopenshell.api.geometry.edit_object_placement(model, product=wall)
        rep = ifcopenshell.api.geometry.add_wall_representation(
            model, context=body, length=5.0, height=3.0, thickness=0.2)  # SI metres
        ifcopenshell.api.geometry.assign_representation(model, product=wall, representation=rep)
        ifcopenshell.api.spatial.assign_container(model, relating_structure=storey,
                                                  products=[wall])
    return model


def add_map_conversion(model: ifcopenshell.file, *, epsg: int, eastings: float, northings: float,
                       scale: float | None = None, abscissa: float = 1.0,
                       ordinate: float = 0.0) -> None:
    """IfcMapConversion (IFC4+) or the ePSet_* property sets (IFC2X3) on the project."""
    project = model.by_type("IfcProject")[0]
    if model.schema == "IFC2X3":
        crs = ifcopenshell.api.pset.add_pset(model, product=project, name="ePSet_ProjectedCRS")
        ifcopenshell.api.pset.edit_pset(model, pset=crs, properties={"Name": f"EPSG:{epsg}"})
        conv = ifcopenshell.api.pset.add_pset(model, product=project, name="ePSet_MapConversion")
        props = {"Eastings": eastings, "Northings": northings, "OrthogonalHeight": 0.0,
                 "XAxisAbscissa": abscissa, "XAxisOrdinate": ordinate}
        if scale is not None:
            props["Scale"] = scale
        ifcopenshell.api.pset.edit_pset(model, pset=conv, properties=props)
        return
    ifcopenshell.api.georeference.add_georeferencing(model, name=f"EPSG:{epsg}")
    ifcopenshell.api.georeference.edit_georeferencing(
        model, projected_crs={"Name": f"EPSG:{epsg}"},
        coordinate_operation={"Eastings": eastings, "Northings": northings,
                              "OrthogonalHeight": 0.0, "XAxisAbscissa": abscissa,
                              "XAxisOrdinate": ordinate, "Scale": scale})
