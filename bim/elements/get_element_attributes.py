"""Attributes of many elements at once: class, types, storey, material, property sets, quantities.

The relationships are read in one pass each (containment, aggregation, typing, properties,
materials) into dictionaries, instead of following inverse attributes element by element:
``ifcopenshell.util.element.get_psets`` and friends are right for one element and several times
slower for a thousand.  Property values go through ``ifcopenshell.util.element``'s readers and
quantities are converted to SI with ``ifcopenshell.util.unit``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import ifcopenshell
import ifcopenshell.util.element
import ifcopenshell.util.unit

__all__ = ["get_element_attributes"]

_QUANTITY_UNIT = {"IfcQuantityLength": "LENGTHUNIT", "IfcQuantityArea": "AREAUNIT",
                  "IfcQuantityVolume": "VOLUMEUNIT", "IfcQuantityWeight": "MASSUNIT"}
# Normalised quantity keys, each from the first name found (net before gross).
_NORMALISED = {
    "volume": ("NetVolume", "GrossVolume", "Volume"),
    "area": ("NetArea", "GrossArea", "NetSideArea", "GrossSideArea", "NetFootprintArea",
             "GrossFootprintArea", "NetSurfaceArea", "OuterSurfaceArea", "GrossSurfaceArea",
             "CrossSectionArea", "Area"),
    "length": ("Length", "NetLength", "GrossLength"),
    "height": ("Height", "NetHeight", "GrossHeight"),
    "width": ("Width", "NetWidth", "GrossWidth"),
    "perimeter": ("Perimeter", "GrossPerimeter"),
    "weight": ("NetWeight", "GrossWeight"),
}


def _simple(value: object) -> object:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_simple(v) for v in value]
    return str(value)


class _Model:
    """The relationship maps of one model."""

    def __init__(self, model: ifcopenshell.file) -> None:
        self.container: dict[int, ifcopenshell.entity_instance] = {}
        self.parent: dict[int, ifcopenshell.entity_instance] = {}
        self.type: dict[int, ifcopenshell.entity_instance] = {}
        self.definitions: dict[int, list] = defaultdict(list)
        self.material: dict[int, ifcopenshell.entity_instance] = {}
        for rel in model.by_type("IfcRelContainedInSpatialStructure"):
            for e in rel.RelatedElements or ():
                self.container.setdefault(e.id(), rel.RelatingStructure)
        for cls in ("IfcRelAggregates", "IfcRelNests"):
            for rel in model.by_type(cls) if _has(model, cls) else ():
                for e in rel.RelatedObjects or ():
                    self.parent.setdefault(e.id(), rel.RelatingObject)
        for rel in model.by_type("IfcRelDefinesByType"):
            for e in rel.RelatedObjects or ():
                self.type[e.id()] = rel.RelatingType
        for rel in model.by_type("IfcRelDefinesByProperties"):
            for e in rel.RelatedObjects or ():
                self.definitions[e.id()].append(rel.RelatingPropertyDefinition)
        for rel in model.by_type("IfcRelAssociatesMaterial"):
            for e in rel.RelatedObjects or ():
                self.material.setdefault(e.id(), rel.RelatingMaterial)
        self._props: dict[int, dict] = {}
        self._materials: dict[int, str | None] = {}
        self._storey: dict[int, str | None] = {}
        self.unit = {q: float(ifcopenshell.util.unit.calculate_unit_scale(model, u))
                     for q, u in _QUANTITY_UNIT.items()}

    def props(self, definition: ifcopenshell.entity_instance) -> dict:
        key = definition.id()
        if key not in self._props:
            if definition.is_a("IfcElementQuantity"):
                self._props[key] = {q.Name: self._quantity(q) for q in definition.Quantities or ()}
            else:
                values = ifcopenshell.util.element.get_property_definition(definition) or {}
                values.pop("id", None)
                self._props[key] = {k: _simple(v) for k, v in values.items()}
        return self._props[key]

    def _quantity(self, q: ifcopenshell.entity_instance) -> object:
        """A simple quantity's value in SI units (complex quantities are not read)."""
        if not q.is_a("IfcPhysicalSimpleQuantity"):
            return None
        value = q[3]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) * self.unit.get(q.is_a(), 1.0)
        return _simple(value)

    def material_name(self, material: ifcopenshell.entity_instance | None) -> str | None:
        if material is None:
            return None
        key = material.id()
        if key not in self._materials:
            self._materials[key] = ", ".join(_material_names(material)) or None
        return self._materials[key]

    def storey(self, element: ifcopenshell.entity_instance, depth: int = 0) -> str | None:
        key = element.id()
        if key in self._storey:
            return self._storey[key]
        found = None
        node = self.container.get(key) or self.parent.get(key)
        while node is not None and depth < 32:
            if node.is_a("IfcBuildingStorey"):
                found = node.Name or node.LongName or node.GlobalId
                break
            if node.is_a("IfcBuilding") or node.is_a("IfcSite") or node.is_a("IfcProject"):
                break
            node = self.container.get(node.id()) or self.parent.get(node.id())
            depth += 1
        self._storey[key] = found
        return found


def _has(model: ifcopenshell.file, cls: str) -> bool:
    try:
        model.by_type(cls)
    except RuntimeError:
        return False
    return True


_MATERIAL_CHILDREN = {   # IfcMaterialSelect classes → the attributes that hold their parts
    "IfcMaterialLayerSetUsage": ("ForLayerSet",), "IfcMaterialProfileSetUsage": ("ForProfileSet",),
    "IfcMaterialLayerSet": ("MaterialLayers",), "IfcMaterialProfileSet": ("MaterialProfiles",),
    "IfcMaterialConstituentSet": ("MaterialConstituents",), "IfcMaterialList": ("Materials",),
    "IfcMaterialLayer": ("Material",), "IfcMaterialProfile": ("Material",),
    "IfcMaterialConstituent": ("Material",),
}


def _material_names(material: ifcopenshell.entity_instance | None) -> list[str]:
    """Names of the materials behind any IfcMaterialSelect, in order, without repeats."""
    if material is None:
        return []
    cls = material.is_a()
    if cls == "IfcMaterial":
        return [material.Name] if material.Name else []
    names: list[str] = []
    for attribute in _MATERIAL_CHILDREN.get(cls, ()):
        value = getattr(material, attribute, None)
        for child in value if isinstance(value, tuple) else (value,):
            for name in _material_names(child):
                if name not in names:
                    names.append(name)
    return names


def _predefined(element: ifcopenshell.entity_instance,
                type_: ifcopenshell.entity_instance | None) -> str | None:
    for holder, custom in ((type_, "ElementType"), (element, "ObjectType")):
        if holder is None:
            continue
        value = getattr(holder, "PredefinedType", None)
        if value == "USERDEFINED":
            value = getattr(holder, custom, None) or value
        if value and value != "NOTDEFINED":
            return value
    return None


def _quantities(sets: dict[str, dict]) -> tuple[dict, str | None]:
    if not sets:
        return {}, None
    source = "qto" if any(n.startswith("Qto_") for n in sets) else "base_quantities"
    flat: dict[str, float] = {}
    for values in sets.values():
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat.setdefault(name, float(value))
    out: dict = {}
    for key, names in _NORMALISED.items():
        for name in names:
            if name in flat:
                out[key] = flat[name]
                break
    out["sets"] = sets
    return out, source


def get_element_attributes(model: ifcopenshell.file, *,
                           elements: Sequence[ifcopenshell.entity_instance]) -> list[dict]:
    """One dict per element, in order: ``global_id``, ``ifc_class``, ``predefined_type``,
    ``name``, ``type_name``, ``storey``, ``material``, ``psets`` (the Pset_*Common sets, the
    type's values overridden by the occurrence's), ``quantities`` (normalised ``volume``,
    ``area``, ``length``... in SI units plus the raw ``sets``) and ``quantity_source``
    (``qto`` for Qto_* sets, ``base_quantities`` for vendor sets such as "BaseQuantities")."""
    maps = _Model(model)
    out = []
    for element in elements:
        eid = element.id()
        type_ = maps.type.get(eid)
        psets: dict[str, dict] = {}
        qsets: dict[str, dict] = {}
        definitions = list(getattr(type_, "HasPropertySets", None) or ()) + maps.definitions.get(eid, [])
        for definition in definitions:
            if definition is None:
                continue
            name = getattr(definition, "Name", None) or ""
            if definition.is_a("IfcElementQuantity"):
                qsets.setdefault(name, {}).update(maps.props(definition))
            elif name.startswith("Pset_") and name.endswith("Common"):
                psets.setdefault(name, {}).update(maps.props(definition))
        quantities, source = _quantities(qsets)
        material = maps.material.get(eid) or (maps.material.get(type_.id()) if type_ else None)
        out.append({
            "global_id": element.GlobalId,
            "ifc_class": element.is_a(),
            "predefined_type": _predefined(element, type_),
            "name": element.Name,
            "type_name": getattr(type_, "Name", None),
            "storey": maps.storey(element),
            "material": maps.material_name(material),
            "psets": psets,
            "quantities": quantities,
            "quantity_source": source,
        })
    return out
