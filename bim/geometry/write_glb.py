"""Write a model's mesh as one binary glTF 2.0 file (GLB), one node per element.

Written with numpy + struct rather than a glTF library: the layout is fixed and small (two
buffer views, two accessors per element), the GLB container is 12 header bytes and two chunks,
and writing the arrays straight from numpy avoids copying every vertex through Python objects.

Layout:

- buffer 0 = the BIN chunk: view 0 holds every element's positions (float32 VEC3), view 1 every
  element's triangle indices (uint32), one after the other;
- per element ``i``: accessor ``2i`` (POSITION, with min/max), accessor ``2i + 1`` (indices,
  local to that element's vertices), mesh ``i`` with one triangle primitive, node ``i + 1``
  named by the element's GlobalId with ``extras = {"global_id", "ifc_class"}``;
- node 0 ("model") is the only root and holds the element nodes as children, so the node index
  of an element is ``mesh_index + 1`` and its name is its GlobalId: a viewer can colour each
  element by status without any other table.

Coordinates: the model's local frame in metres, minus ``offset`` (recorded with the model so the
origin of the GLB is known on the map), turned to glTF's Y-up: glTF (x, y, z) = local
(x, z, −y).  The map rotation is not baked in: it is part of the model's placement, which a
manual placement can change without rewriting the GLB.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import BinaryIO, NamedTuple

import numpy as np

__all__ = ["GlbMesh", "write_glb"]

_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_FLOAT, _UNSIGNED_INT = 5126, 5125


class GlbMesh(NamedTuple):
    global_id: str
    ifc_class: str
    vertices: np.ndarray     # (n, 3) local metres
    faces: np.ndarray        # (m, 3) indices into vertices


def _pad(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def write_glb(meshes: Sequence[GlbMesh], out: BinaryIO, *,
              offset: tuple[float, float, float] = (0.0, 0.0, 0.0), shifted: bool = False,
              extras: dict | None = None) -> int:
    """Write the GLB to ``out``; return the number of bytes written.

    ``offset`` is subtracted from the vertices, or, with ``shifted``, has been already (the
    vertices are in the GLB's frame) and is only recorded.
    """
    shift = np.zeros(3) if shifted else np.asarray(offset, dtype=np.float64)
    accessors: list[dict] = []
    gltf_meshes: list[dict] = []
    nodes: list[dict] = [{"name": "model", "children": []}]
    positions: list[np.ndarray] = []
    indices: list[np.ndarray] = []
    v_offset = i_offset = 0
    for i, mesh in enumerate(meshes):
        local = mesh.vertices - shift if not shifted else mesh.vertices
        pos = np.empty((len(local), 3), dtype=np.float32)
        pos[:, 0], pos[:, 1], pos[:, 2] = local[:, 0], local[:, 2], -local[:, 1]
        idx = np.ascontiguousarray(mesh.faces, dtype=np.uint32).ravel()
        positions.append(pos)
        indices.append(idx)
        accessors.append({"bufferView": 0, "byteOffset": v_offset * 12, "componentType": _FLOAT,
                          "count": int(len(pos)), "type": "VEC3",
                          "min": pos.min(axis=0).tolist() if len(pos) else [0, 0, 0],
                          "max": pos.max(axis=0).tolist() if len(pos) else [0, 0, 0]})
        accessors.append({"bufferView": 1, "byteOffset": i_offset * 4,
                          "componentType": _UNSIGNED_INT, "count": int(len(idx)), "type": "SCALAR"})
        gltf_meshes.append({"name": mesh.global_id, "primitives": [
            {"attributes": {"POSITION": 2 * i}, "indices": 2 * i + 1, "mode": 4, "material": 0}]})
        nodes.append({"name": mesh.global_id, "mesh": i,
                      "extras": {"global_id": mesh.global_id, "ifc_class": mesh.ifc_class}})
        nodes[0]["children"].append(i + 1)
        v_offset += len(pos)
        i_offset += len(idx)
    pos_len, idx_len = v_offset * 12, i_offset * 4      # both multiples of 4: no padding needed
    views = [
        {"buffer": 0, "byteOffset": 0, "byteLength": pos_len, "target": _ARRAY_BUFFER},
        {"buffer": 0, "byteOffset": pos_len, "byteLength": idx_len,
         "target": _ELEMENT_ARRAY_BUFFER},
    ]
    if not nodes[0]["children"]:
        del nodes[0]["children"]
    document = {
        "asset": {"version": "2.0", "generator": "SiteWatch",
                  "extras": {"frame": "model local metres minus offset, Y up",
                             "offset": list(offset), **(extras or {})}},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": nodes,
        "materials": [{"name": "element", "pbrMetallicRoughness": {
            "baseColorFactor": [0.8, 0.8, 0.8, 1.0], "metallicFactor": 0.0,
            "roughnessFactor": 1.0}}],
    }
    binary_len = pos_len + idx_len
    if gltf_meshes:
        document.update(meshes=gltf_meshes, accessors=accessors, bufferViews=views,
                        buffers=[{"byteLength": binary_len}])
    json_chunk = _pad(json.dumps(document, separators=(",", ":")).encode("utf-8"), b" ")
    total = 12 + 8 + len(json_chunk) + (8 + binary_len if gltf_meshes else 0)
    out.write(struct.pack("<4sII", b"glTF", 2, total))
    out.write(struct.pack("<I4s", len(json_chunk), b"JSON"))
    out.write(json_chunk)
    if gltf_meshes:   # the arrays go out one by one: no copy of the whole binary in memory
        out.write(struct.pack("<I4s", binary_len, b"BIN\0"))
        for array in positions + indices:
            out.write(array.data.cast("B"))
    return total
