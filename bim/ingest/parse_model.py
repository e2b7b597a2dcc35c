"""Everything a model yields, computed from the open file (no database): the parse proper.

Runs in the parse child (``bim.ingest.run_parse``).  One pass of the geometry iterator gives
each element's elevations, plan footprint, a volume when the file has none, and its mesh; the
footprints are then placed on the map in one vectorised transform.  The shapes come from the
iterator run here, or from one already running elsewhere (``shapes``: the parse child's helper
process, ``bim.ingest._shape_helper``), in which case the attributes are read while it works.
"""

from __future__ import annotations

import io
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import ifcopenshell
import ifcopenshell.util.placement
import ifcopenshell.util.unit
import numpy as np
import shapely

from bim import elements as bim_elements
from bim import geometry, georef
from bim.errors import ParseFailed
from bim.georef import Placement

__all__ = ["ParsedModel", "outline_wkb", "parse_model"]

logger = logging.getLogger(__name__)

_FAR_M = 1000.0      # a model this far from its local origin gets a GLB offset (float32)


@dataclass
class ParsedModel:
    schema: str
    placement: Placement
    rows: list[dict]                        # element attributes + geometry columns
    local_footprints: list[shapely.MultiPolygon | None]
    footprints: list[shapely.MultiPolygon | None]    # EPSG:4490
    glb: bytes
    glb_offset: tuple[float, float, float]
    warnings: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    # The outline (WKB, EPSG:4490), computed in a thread from the end of the parse on: call to
    # wait for it.  None: the write has PostGIS unite the footprints it stored.
    outline: Callable[[], bytes | None] | None = None


def outline_wkb(footprints: list) -> bytes | None:
    """The model's outline: the union of its placed footprints as a MultiPolygon (WKB), None
    when no element has one."""
    parts = [g for g in footprints if g is not None and not g.is_empty]
    if not parts:
        return None
    polygons = shapely.get_parts(shapely.get_parts(shapely.union_all(parts)))
    polygons = [g for g in polygons if g.geom_type == "Polygon" and not g.is_empty]
    return shapely.to_wkb(shapely.MultiPolygon(polygons)) if polygons else None


# From this many footprints the outline is made here, in a thread: below, PostGIS's union in
# the write takes a few milliseconds, and the thread and the union's memory would count against
# the parse's memory budget for little time saved.
_OUTLINE_THREAD_MIN = 500


def _start_outline(footprints: list) -> Callable[[], bytes | None] | None:
    """:func:`outline_wkb` in a thread of its own, for large models (None for the others: the
    write has PostGIS unite the stored footprints).  GEOS unions without Python's GIL, so it
    runs beside the database writes: for Office_A (805 footprints) it takes 50 ms, about as long
    as the COPY of its elements."""
    if sum(g is not None for g in footprints) < _OUTLINE_THREAD_MIN:
        return None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outline")
    future = pool.submit(outline_wkb, footprints)
    pool.shutdown(wait=False)
    return future.result


def _offset(model: ifcopenshell.file, element: ifcopenshell.entity_instance
            ) -> tuple[float, float, float]:
    """The GLB's origin: the local origin, unless the model lies far from it (float32 keeps
    ~7 digits), then the first element's placement rounded to the metre (deterministic: the
    kernel's threads deliver shapes in any order)."""
    if element.ObjectPlacement is None:
        return (0.0, 0.0, 0.0)
    unit = float(ifcopenshell.util.unit.calculate_unit_scale(model))
    xy = ifcopenshell.util.placement.get_local_placement(element.ObjectPlacement)[:2, 3] * unit
    if float(np.abs(xy).max()) <= _FAR_M:
        return (0.0, 0.0, 0.0)
    return (float(np.round(xy[0])), float(np.round(xy[1])), 0.0)


def _place(footprints: list, placement: Placement) -> list:
    present = [i for i, g in enumerate(footprints) if g is not None]
    out: list = [None] * len(footprints)
    if present:
        placed = shapely.transform(np.array([footprints[i] for i in present], dtype=object),
                                   placement.to_lonlat)
        for i, g in zip(present, placed):
            out[i] = g
    return out


def _storeys(model: ifcopenshell.file) -> list[dict]:
    storeys = []
    for s in model.by_type("IfcBuildingStorey"):
        storeys.append({"name": s.Name or s.LongName or s.GlobalId,
                        "elevation": float(s.Elevation) if s.Elevation is not None else None})
    storeys.sort(key=lambda s: (s["elevation"] is None, s["elevation"] or 0.0))
    return storeys


def parse_model(model: ifcopenshell.file, *, fallback_lonlat: tuple[float, float] | None = None,
                threads: int | None = None,
                library: geometry.GeometryLibrary = geometry.LIBRARY,
                shapes: Iterable[geometry.Shape] | None = None) -> ParsedModel:
    """Parse an open model; :class:`~bim.errors.ParseFailed` when it has nothing to store.

    ``shapes``, when given, are the shapes of ``bim.elements.get_elements(model)`` produced
    elsewhere with the same settings (shapes of other products are ignored); by default the
    iterator runs here, with ``threads`` and ``library``.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if not model.by_type("IfcProduct"):
        raise ParseFailed("the model has no products (no IfcProduct at all)")
    found = bim_elements.get_elements(model)
    if not found:
        raise ParseFailed("the model has no elements (its products are only spatial structure, "
                          "openings or annotations)")
    warnings: list[dict] = []
    by_gid: dict[str, int] = {}
    by_step: dict[int, int] = {}     # step id → row: shapes are matched on the entity itself
    unique: list[ifcopenshell.entity_instance] = []
    for e in found:
        if e.GlobalId in by_gid or not e.GlobalId or len(e.GlobalId) != 22:
            continue
        by_gid[e.GlobalId] = by_step[e.id()] = len(unique)
        unique.append(e)
    if not unique:
        raise ParseFailed("no element has a valid GlobalId (22 characters): the file is damaged")
    if len(unique) < len(found):
        warnings.append({"code": "duplicate_global_id", "count": len(found) - len(unique),
                         "message": f"{len(found) - len(unique)} elements repeat a GlobalId (or "
                                    "have an invalid one) and were skipped"})
    placement = georef.auto_get_placement(model, fallback_lonlat=fallback_lonlat)
    timings["georef_s"] = time.perf_counter() - t0

    rows = bim_elements.get_element_attributes(model, elements=unique)
    timings["attributes_s"] = time.perf_counter() - t0 - timings["georef_s"]
    local: list = [None] * len(rows)
    meshes: list[geometry.GlbMesh] = []
    mesh_rows: list[int] = []
    drawn: set[int] = set()          # rows that have their shape
    offset = _offset(model, unique[0])
    t1 = time.perf_counter()
    if shapes is None:
        shapes = geometry.iterate_shapes(model, elements=unique, threads=threads, library=library)
    seen: dict = {}                  # repeated meshes reuse their footprint
    for shape in shapes:
        i = by_step.get(shape.step_id)
        if i is None or len(shape.faces) == 0 or i in drawn:
            continue
        drawn.add(i)
        v, f = shape.vertices, shape.faces
        zmin, zmax = float(v[:, 2].min()), float(v[:, 2].max())
        row = rows[i]
        row["bottom_elevation"], row["top_elevation"] = zmin, zmax
        local[i] = geometry.get_footprint(v, f, seen=seen)
        if "volume" not in row["quantities"]:
            volume = geometry.get_mesh_volume(v, f)
            if volume is not None:
                row["quantities"]["volume"] = volume
                row["quantity_source"] = row["quantity_source"] or "geometry"
        if "area" not in row["quantities"] and local[i] is not None:
            row["quantities"]["area"] = float(local[i].area)
            row["quantity_source"] = row["quantity_source"] or "geometry"
        # Kept for the GLB as float32 in its frame: half the memory of the kernel's float64.
        meshes.append(geometry.GlbMesh(shape.global_id, row["ifc_class"],
                                       (v - offset).astype(np.float32), f))
        mesh_rows.append(i)
    timings["geometry_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    # The kernel's threads finish elements in any order: draw them in file order, so the same
    # file always gives the same GLB.
    order = sorted(range(len(mesh_rows)), key=mesh_rows.__getitem__)
    meshes = [meshes[k] for k in order]
    for index, k in enumerate(order):
        rows[mesh_rows[k]]["mesh_index"] = index
    buffer = io.BytesIO()
    geometry.write_glb(meshes, buffer, offset=offset, shifted=True)
    del meshes[:]   # before the placed footprints exist: the parse's memory peak stays lower
    placed = _place(local, placement)
    outline = _start_outline(placed)
    timings["placement_s"] = time.perf_counter() - t2

    warnings = list(placement.warnings) + warnings
    missing = len(rows) - len(mesh_rows)
    if not mesh_rows:
        warnings.append({"code": "no_geometry", "message": "no element has geometry the kernel "
                         "could triangulate; the model has no footprint and no mesh"})
    elif missing:
        warnings.append({"code": "elements_without_geometry", "count": missing,
                         "message": f"{missing} of {len(rows)} elements have no triangulated "
                                    "geometry (no body representation, or the kernel failed)"})
    summary = {
        "schema": model.schema_identifier,
        "elements": len(rows),
        "elements_by_class": dict(sorted(Counter(r["ifc_class"] for r in rows).items())),
        "elements_with_geometry": len(mesh_rows),
        "storeys": _storeys(model),
        "quantity_sources": dict(Counter(r["quantity_source"] or "none" for r in rows)),
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    return ParsedModel(model.schema_identifier, placement, rows, local, placed, buffer.getvalue(),
                       offset, warnings, summary, outline)
