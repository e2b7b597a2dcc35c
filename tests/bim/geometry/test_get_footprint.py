"""Footprints are the exact plan shadow, valid, also for overlapping and open meshes."""

from __future__ import annotations

import numpy as np
import shapely

from bim.geometry import get_footprint, get_mesh_volume

CUBE_FACES = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                       [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])


def box(x0, y0, z0, x1, y1, z1):
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], float)
    return v, CUBE_FACES.copy()


def merge(*parts):
    vs, fs, n = [], [], 0
    for v, f in parts:
        vs.append(v)
        fs.append(f + n)
        n += len(v)
    return np.concatenate(vs), np.concatenate(fs)


def test_l_shape_is_not_its_hull():
    v, f = merge(box(0, 0, 0, 4, 1, 0.2), box(0, 1, 0, 1, 4, 0.2))
    fp = get_footprint(v, f)
    assert fp.is_valid and fp.geom_type == "MultiPolygon"
    assert fp.area == 7.0           # a convex hull would say 12.5
    assert abs(get_mesh_volume(v, f) - 1.4) < 1e-12


def test_overlapping_layers_window_frame():
    # Head above sill: their up-facing faces overlap in plan (not a coverage).
    v, f = merge(box(0, 0, 0, 2, 0.1, 0.1), box(0, 0, 2, 2, 0.1, 2.1), box(0, 0, 0.1, 0.1, 0.1, 2),
                 box(1.9, 0, 0.1, 2, 0.1, 2))
    fp = get_footprint(v, f)
    assert fp.is_valid and abs(fp.area - 0.2) < 1e-9


def test_ring_with_a_hole():
    v, f = merge(box(0, 0, 0, 3, 1, 1), box(0, 2, 0, 3, 3, 1), box(0, 1, 0, 1, 2, 1),
                 box(2, 1, 0, 3, 2, 1))
    fp = get_footprint(v, f)
    assert fp.is_valid and fp.area == 8.0
    assert len(shapely.get_interior_ring(fp.geoms[0], 0).coords) >= 4


def test_open_surface_uses_both_orientations_and_vertical_is_none():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    down_only = np.array([[0, 2, 1], [0, 3, 2]])      # a floor plate facing down
    assert get_footprint(v, down_only).area == 1.0
    assert get_mesh_volume(v, down_only) is None
    wall = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]], float)
    assert get_footprint(wall, np.array([[0, 1, 2], [0, 2, 3]])) is None


def turned(v, angle, shift):
    c, s = np.cos(angle), np.sin(angle)
    out = v.copy()
    out[:, :2] = v[:, :2] @ np.array([[c, s], [-s, c]]) + shift
    return out


def test_a_repeated_mesh_reuses_its_footprint_moved_and_turned():
    # A chair-like mesh whose up-facing faces overlap (the slow path), then copies of it.
    v, f = merge(box(0, 0, 0, 2, 0.1, 0.1), box(0, 0, 2, 2, 0.1, 2.1), box(0, 0, 0.1, 0.1, 0.1, 2),
                 box(1.9, 0, 0.1, 2, 0.1, 2), box(0.5, 0.1, 0, 0.7, 1.3, 0.4))
    seen: dict = {}
    first = get_footprint(v, f, seen=seen)
    assert first.equals(get_footprint(v, f))
    for angle, shift in ((0.0, (512345.25, 3351234.5)), (0.7, (10.0, -3.0)), (np.pi, (1.0, 1.0))):
        copy = turned(v, angle, shift)
        reused = get_footprint(copy, f, seen=seen)
        direct = get_footprint(copy, f)
        assert reused.is_valid and reused.geom_type == "MultiPolygon"
        # Both are snapped to the 1 mm grid: they agree within what snapping moves.
        assert shapely.symmetric_difference(reused, direct).area <= direct.length * 0.001
        assert shapely.hausdorff_distance(reused, direct) <= 0.001 * 2 ** 0.5
    assert len(seen) == 1                # one shape, computed once


def test_a_mirrored_or_changed_mesh_is_not_reused():
    v, f = merge(box(0, 0, 0, 4, 1, 0.2), box(0, 1, 0, 1, 4, 0.2))     # an L
    seen: dict = {}
    get_footprint(v, f, seen=seen)
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    assert get_footprint(mirrored, f[:, ::-1], seen=seen).equals(get_footprint(mirrored, f[:, ::-1]))
    longer = v.copy()
    longer[longer[:, 0] == 4, 0] = 5
    assert get_footprint(longer, f, seen=seen).area == 8.0
    assert len(seen) == 3
