"""Volume of a closed triangle mesh (the geometry fallback when a model has no quantities)."""

from __future__ import annotations

import numpy as np

__all__ = ["get_mesh_volume"]


def get_mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float | None:
    """Enclosed volume by the divergence theorem, or None when the mesh is not closed.

    The mesh counts as closed when its up- and down-facing projected areas agree to 1 % (a
    necessary condition that open surfaces and inconsistently oriented meshes fail).

    >>> v = np.array([[0,0,0],[2,0,0],[2,1,0],[0,1,0],[0,0,3],[2,0,3],[2,1,3],[0,1,3]], float)
    >>> f = np.array([[0,2,1],[0,3,2],[4,5,6],[4,6,7],[0,1,5],[0,5,4],[1,2,6],[1,6,5],
    ...               [2,3,7],[2,7,6],[3,0,4],[3,4,7]])
    >>> get_mesh_volume(v, f)
    6.0
    """
    if len(faces) == 0:
        return None
    tri = vertices[faces]
    centre = vertices.mean(axis=0)
    a, b, c = tri[:, 0] - centre, tri[:, 1] - centre, tri[:, 2] - centre
    cross = np.cross(b - a, c - a)
    up, down = cross[:, 2][cross[:, 2] > 0].sum(), -cross[:, 2][cross[:, 2] < 0].sum()
    if up <= 0 or abs(up - down) > 0.01 * max(up, down):
        return None
    volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
    return abs(volume)
