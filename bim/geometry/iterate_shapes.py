"""Triangulate a model's elements with the ifcopenshell.geom iterator, chosen for speed.

Every setting and why (the benchmark's floor uses exactly :func:`geometry_settings` too):

- ``use-world-coords``: vertices come out in the project's world frame, so footprints, elevations
  and the mesh share one frame and Python never multiplies placement matrices.
- ``disable-opening-subtractions``: openings do not change an element's plan footprint or its
  bottom/top elevation, and the boolean subtraction of voids is the most expensive step of the
  kernel (AC20-FZK-Haus: 3.3 s → 1.4 s with OpenCASCADE).  The price: walls in the GLB have no
  window/door holes (the windows and doors are drawn in them) and a volume computed from the
  mesh is the gross volume.
- ``no-normals``: nothing downstream uses normals; glTF viewers compute flat normals themselves.
- ``weld-vertices`` (the default, kept): shared vertices make the GLB about 3× smaller.
- geometry library ``hybrid-cgal-simple-opencascade``: CGAL's simple kernel for what it can do,
  OpenCASCADE for the rest; 3–6× faster than OpenCASCADE alone on the sample files with the
  same element bounding boxes to 0.6 mm.
- threads: **one** unless asked for more (``SITEWATCH_IFC_THREADS``).  With ifcopenshell 0.9 the
  multi-threaded iterator was never faster here and costs 2-8x the CPU: on 2 cores, Office_A
  0.45 s with one thread against 0.52-0.71 s with two (1.0 s of CPU), AC20-FZK-Haus 0.26 s
  against 0.24-0.27 s (0.45 s of CPU), the sample residential models 0.04 s against 0.28 s;
  its consumer also polls with sleeps between shapes.  One thread leaves the other cores to the
  web workers and, in a parse, to the Python side (``bim.ingest`` runs the iterator in a helper
  process next to it).
- ``include``: only the elements SiteWatch stores (no IfcSpace, openings, site terrain).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import ifcopenshell
import ifcopenshell.geom
import numpy as np

__all__ = ["LIBRARY", "Shape", "geometry_settings", "iterate_shapes"]

logger = logging.getLogger(__name__)

GeometryLibrary = Literal["cgal", "cgal-simple", "manifold", "opencascade",
                          "hybrid-cgal-simple-opencascade"]
LIBRARY: GeometryLibrary = "hybrid-cgal-simple-opencascade"


@dataclass(frozen=True, slots=True)
class Shape:
    step_id: int
    global_id: str
    vertices: np.ndarray     # (n, 3) float64, world metres
    faces: np.ndarray        # (m, 3) int32, indices into vertices


def geometry_settings() -> ifcopenshell.geom.settings:
    """The iterator settings described in the module docstring."""
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    settings.set("disable-opening-subtractions", True)
    settings.set("no-normals", True)
    settings.set("weld-vertices", True)
    return settings


DEFAULT_THREADS = 1


def default_threads() -> int:
    """The kernel threads used when none are asked for (one: see the module docstring)."""
    return DEFAULT_THREADS


def iterate_shapes(model: ifcopenshell.file, *,
                   elements: Sequence[ifcopenshell.entity_instance] | None = None,
                   threads: int | None = None, library: GeometryLibrary = LIBRARY
                   ) -> Iterator[Shape]:
    """Yield each element's triangulated shape; elements whose geometry fails are skipped.

    ``elements`` limits the run to those products (an empty list yields nothing).
    """
    if elements is not None and not elements:
        return
    iterator = ifcopenshell.geom.iterator(
        geometry_settings(), model, threads or default_threads(),
        include=list(elements) if elements is not None else None, geometry_library=library)
    if not iterator.initialize():
        return
    while True:
        shape = iterator.get()
        geometry = shape.geometry
        vertices = np.frombuffer(geometry.verts_buffer, dtype=np.float64).reshape(-1, 3)
        faces = np.frombuffer(geometry.faces_buffer, dtype=np.int32).reshape(-1, 3)
        yield Shape(int(shape.id), str(shape.guid), vertices, faces)
        if not iterator.next():
            break
