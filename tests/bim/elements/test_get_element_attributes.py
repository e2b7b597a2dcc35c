"""Element attributes from in-memory models: storey, type, material, Pset_*Common, Qto."""

from __future__ import annotations

import ifcopenshell.api.material
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.type
import pytest

from bim.elements import get_element_attributes, get_elements
from tests.bim.models import make_model


@pytest.mark.parametrize("schema", ["IFC2X3", "IFC4", "IFC4X3_ADD2"])
def test_attributes(schema):
    model = make_model(schema, prefix="MILLI", walls=2)
    wall = model.by_type("IfcWall")[0]
    wall_type = ifcopenshell.api.root.create_entity(model, ifc_class="IfcWallType",
                                                    name="WT-200")
    ifcopenshell.api.type.assign_type(model, related_objects=[wall], relating_type=wall_type)
    concrete = ifcopenshell.api.material.add_material(model, name="C30")
    ifcopenshell.api.material.assign_material(model, products=[wall_type], material=concrete)
    common = ifcopenshell.api.pset.add_pset(model, product=wall, name="Pset_WallCommon")
    ifcopenshell.api.pset.edit_pset(model, pset=common, properties={"IsExternal": True,
                                                                    "FireRating": "REI90"})
    qto = ifcopenshell.api.pset.add_qto(model, product=wall, name="Qto_WallBaseQuantities")
    ifcopenshell.api.pset.edit_qto(model, qto=qto, properties={"NetVolume": 2.5,
                                                               "Length": 5000.0})
    other = ifcopenshell.api.pset.add_pset(model, product=wall, name="Custom_Stuff")
    ifcopenshell.api.pset.edit_pset(model, pset=other, properties={"X": 1})
    opening = ifcopenshell.api.root.create_entity(model, ifc_class="IfcOpeningElement")
    elements = get_elements(model)
    assert opening not in elements and len(elements) == 2
    rows = get_element_attributes(model, elements=elements)
    first = rows[0]
    assert first["global_id"] == wall.GlobalId and first["ifc_class"] == "IfcWall"
    assert first["storey"] == "L1" and first["type_name"] == "WT-200"
    assert first["material"] == "C30"                  # inherited from the type
    assert first["psets"] == {"Pset_WallCommon": {"IsExternal": True, "FireRating": "REI90"}}
    # Quantities in SI: the file's length unit is mm, its volume unit the default m³.
    assert first["quantity_source"] == "qto"
    assert first["quantities"]["length"] == pytest.approx(5.0)
    assert first["quantities"]["volume"] == pytest.approx(2.5)
    assert rows[1]["psets"] == {} and rows[1]["quantity_source"] is None
