"""Geometry: triangulation with the ifcopenshell.geom iterator, footprints, volumes, GLB."""

from bim.geometry.get_footprint import get_footprint
from bim.geometry.get_mesh_volume import get_mesh_volume
from bim.geometry.iterate_shapes import (
    LIBRARY,
    GeometryLibrary,
    Shape,
    geometry_settings,
    iterate_shapes,
)
from bim.geometry.write_glb import GlbMesh, write_glb

__all__ = ["LIBRARY", "GeometryLibrary", "GlbMesh", "Shape", "geometry_settings", "get_footprint",
           "get_mesh_volume", "iterate_shapes", "write_glb"]
