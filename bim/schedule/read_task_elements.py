"""Task → element links: task outputs and inputs by GlobalId (all schemas)."""

from __future__ import annotations

import ifcopenshell

from bim.schedule.types import TaskElement

__all__ = ["read_task_elements"]


def read_task_elements(ifc_file: ifcopenshell.file) -> list[TaskElement]:
    """Products each task builds (output) or works on (input).

    Outputs: ``IfcRelAssignsToProduct`` whose ``RelatedObjects`` hold the task and whose
    ``RelatingProduct`` is the product (as ``ifcopenshell.api.sequence.assign_product`` writes).
    Inputs: ``IfcRelAssignsToProcess`` whose ``RelatingProcess`` is the task and whose
    ``RelatedObjects`` hold products (resources and controls are skipped).

    Parameters
    ----------
    ifc_file : ifcopenshell.file

    Returns
    -------
    list of TaskElement
        One per (task, product, relation), keyed by GlobalIds, without duplicates.
    """
    seen: set[tuple[str, str, str]] = set()
    out: list[TaskElement] = []

    def add(task: ifcopenshell.entity_instance, product: ifcopenshell.entity_instance, rel: str) -> None:
        key = (task.GlobalId, product.GlobalId, rel)
        if key not in seen:
            seen.add(key)
            out.append(TaskElement(*key))

    for rel in ifc_file.by_type("IfcRelAssignsToProduct"):
        product = rel.RelatingProduct
        if product is None or not product.is_a("IfcProduct"):
            continue
        for obj in rel.RelatedObjects:
            if obj.is_a("IfcTask"):
                add(obj, product, "output")
    for rel in ifc_file.by_type("IfcRelAssignsToProcess"):
        task = rel.RelatingProcess
        if task is None or not task.is_a("IfcTask"):
            continue
        for obj in rel.RelatedObjects:
            if obj.is_a("IfcProduct"):
                add(task, obj, "input")
    return out
