"""Which products of a model SiteWatch stores as elements."""

from __future__ import annotations

import ifcopenshell

__all__ = ["SKIPPED_CLASSES", "get_elements"]

# Not built things: voids and projections cut from other elements, and virtual boundaries.
SKIPPED_CLASSES = ("IfcFeatureElement", "IfcVirtualElement")


def get_elements(model: ifcopenshell.file) -> list[ifcopenshell.entity_instance]:
    """Every IfcElement except feature elements (openings, projections) and virtual elements,
    in file order: walls, slabs, columns, beams, doors, windows, stairs and their parts,
    furnishing, MEP elements, proxies, civil and geographic elements."""
    skipped = {e.id() for cls in SKIPPED_CLASSES for e in model.by_type(cls)}
    return [e for e in model.by_type("IfcElement") if e.id() not in skipped]
