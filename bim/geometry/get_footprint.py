"""An element's 2D footprint: the exact plan shadow of its triangle mesh.

Method: the union of the mesh's triangles projected on the XY plane, taking only the up-facing
ones when the mesh is closed (every vertical line through the shadow leaves the solid through an
up-facing face, so they cover the whole shadow with half the triangles).  That is exact for
L-shaped slabs, walls with returns and stairs, which a convex hull would overfill and a concave
hull would guess at.  It is made fast by trying a coverage union first (the top faces of most
elements tile the plane without overlapping: one pass over the edges) and checking its area
against the triangles'.  Elements whose up-facing triangles overlap (windows, doors, railings,
furniture) are split into edge-connected surfaces, each merged as a coverage, and only those
few pieces go through GEOS's full overlay union.  The result is snapped to 1 mm and
checked valid.

Repeated elements (the same light fitting, chair or window at many positions) come out of the
iterator as the same mesh moved in plan.  Given a ``seen`` dictionary kept across calls, a mesh
whose plan coordinates equal, to 1 µm, those of one already done once moved and turned about the
vertical reuses its merged shadow, placed likewise, then snapped, instead of merging its triangles
a second time (a mirrored copy is not reused).
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.errors import GEOSException

__all__ = ["get_footprint"]

_MIN_AREA = 1e-10        # m², twice a triangle's projected area below which it is vertical


def _coverage(polygons: np.ndarray, area: float) -> shapely.Geometry | None:
    """Their coverage union when they tile the plane (checked by area and validity), else None."""
    try:
        merged = shapely.coverage_union_all(polygons)
    except GEOSException:
        return None  # not a coverage: overlaps or T-junctions
    if abs(merged.area - area) <= 1e-6 * area + 1e-12 and merged.is_valid:
        return merged
    return None


def _components(faces: np.ndarray) -> np.ndarray:
    """Label of each triangle's edge-connected component (vertices are welded by the kernel)."""
    n = len(faces)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    owner = np.tile(np.arange(n), 3)
    key = edges[:, 0].astype(np.int64) * (int(faces.max()) + 1) + edges[:, 1]
    order = np.argsort(key, kind="stable")
    key, owner = key[order], owner[order]
    shared = key[1:] == key[:-1]
    a, b = owner[:-1][shared], owner[1:][shared]
    labels = np.arange(n)
    while True:  # min-label propagation with pointer jumping: a few vectorised passes
        low = np.minimum(labels[a], labels[b])
        new = labels.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]
        if np.array_equal(new, labels):
            return labels
        labels = new


def _union(polygons: np.ndarray, areas: np.ndarray, faces: np.ndarray,
           grid_size: float) -> shapely.Geometry:
    merged = _coverage(polygons, float(areas.sum()))
    if merged is not None:
        return merged
    # Overlapping layers (a window's sill under its head): merge each connected surface as a
    # coverage, then overlay the few pieces.
    labels = _components(faces)
    order = np.argsort(labels, kind="stable")
    parts: list = []
    for idx in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        piece = _coverage(polygons[idx], float(areas[idx].sum())) if len(idx) > 1 else None
        parts.extend([piece] if piece is not None else polygons[idx])
    try:
        return shapely.union_all(parts)
    except GEOSException:
        return shapely.union_all(parts, grid_size=grid_size)


def _polygonal(geom: shapely.Geometry) -> shapely.MultiPolygon | None:
    if geom.is_empty:
        return None
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    parts = [p for g in parts for p in shapely.get_parts(g)]
    return shapely.MultiPolygon(parts) if parts else None


def _pose(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """Where a mesh sits in plan: its first vertex and the direction from it to the first
    vertex more than 1 mm away (0 when there is none)."""
    relative = vertices[:, :2] - vertices[0, :2]
    far = np.flatnonzero(np.hypot(relative[:, 0], relative[:, 1]) > 1e-3)
    angle = float(np.arctan2(relative[far[0], 1], relative[far[0], 0])) if len(far) else 0.0
    return vertices[0, :2].copy(), angle


def _shape_key(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray, angle: float) -> bytes:
    """The mesh's plan shape up to a move and a turn about the vertical: faces and XY in its
    own pose, in micrometres (two meshes with the same key agree to 1 µm once placed)."""
    c, s = np.cos(angle), np.sin(angle)
    local = (vertices[:, :2] - origin) @ np.array([[c, -s], [s, c]])
    return np.int64(len(vertices)).tobytes() + np.rint(local * 1e6).astype(np.int64).tobytes() \
        + faces.tobytes()


def _moved(shadow: shapely.Geometry, was: tuple[np.ndarray, float],
           now: tuple[np.ndarray, float]) -> shapely.Geometry:
    """``shadow``, merged at pose ``was``, moved and turned to pose ``now``."""
    (o0, a0), (o1, a1) = was, now
    if a0 == a1 and np.array_equal(o0, o1):
        return shadow
    c, s = np.cos(a1 - a0), np.sin(a1 - a0)
    turn = np.array([[c, s], [-s, c]])
    return shapely.transform(shadow, lambda xy: (xy - o0) @ turn + o1)


def _shadow(vertices: np.ndarray, faces: np.ndarray, grid_size: float) -> shapely.Geometry | None:
    """The union of the projected triangles (before snapping), None when there are none."""
    tri = vertices[faces][:, :, :2]
    doubled = ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
               - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1]))
    up, down = doubled > _MIN_AREA, doubled < -_MIN_AREA
    up_area, down_area = doubled[up].sum(), -doubled[down].sum()
    closed = abs(up_area - down_area) <= 0.01 * max(up_area, down_area)
    keep = up if closed else (up | down)
    if not keep.any():
        return None
    tri = tri[keep]
    # Orient every triangle anticlockwise so the coverage check can add areas.
    flip = doubled[keep] < 0
    tri[flip] = tri[flip][:, ::-1]
    rings = np.concatenate([tri, tri[:, :1]], axis=1)
    polygons = shapely.polygons(rings)
    return _union(polygons, np.abs(doubled[keep]) / 2, faces[keep], grid_size)


def get_footprint(vertices: np.ndarray, faces: np.ndarray, *, grid_size: float = 0.001,
                  seen: dict | None = None) -> shapely.MultiPolygon | None:
    """The plan footprint (valid MultiPolygon in the vertices' XY units) or None when flat.

    ``seen``, a dictionary the caller keeps across calls, lets a mesh that repeats one already
    seen elsewhere in plan (moved, turned about the vertical) reuse its merged shadow.

    Examples
    --------
    A unit cube's footprint is the unit square:

    >>> v = np.array([[0,0,0],[1,0,0],[1,1,0],[0,1,0],[0,0,1],[1,0,1],[1,1,1],[0,1,1]], float)
    >>> f = np.array([[0,2,1],[0,3,2],[4,5,6],[4,6,7],[0,1,5],[0,5,4],[1,2,6],[1,6,5],
    ...               [2,3,7],[2,7,6],[3,0,4],[3,4,7]])
    >>> get_footprint(v, f).area
    1.0
    """
    if len(faces) == 0:
        return None
    if seen is None:
        merged = _shadow(vertices, faces, grid_size)
    else:
        pose = _pose(vertices)
        key = _shape_key(vertices, faces, *pose)
        if key in seen:
            was, shadow = seen[key]
            merged = None if shadow is None else _moved(shadow, was, pose)
        else:
            merged = _shadow(vertices, faces, grid_size)
            seen[key] = (pose, merged)
    if merged is None:
        return None
    merged = shapely.set_precision(merged, grid_size)
    if not merged.is_valid:
        merged = shapely.make_valid(merged)
    return _polygonal(merged)
