"""The GLB parses by the spec, one named node per element, vertices in the local frame (Y up)."""

from __future__ import annotations

import io

import numpy as np

from bim.geometry import GlbMesh, write_glb
from tests.bim.glb import accessor, read_glb


def test_nodes_named_by_global_id_and_y_up():
    tri = np.array([[0, 1, 2]])
    a = GlbMesh("0" * 22, "IfcWall", np.array([[1000.0, 2000.0, 0.0], [1001, 2000, 0],
                                               [1000, 2001, 3]]), tri)
    b = GlbMesh("1" * 22, "IfcSlab", np.array([[1000.0, 2000.0, 5.0], [1002, 2000, 5],
                                               [1000, 2002, 5], [1002, 2002, 5]]),
                np.array([[0, 1, 2], [1, 3, 2]]))
    out = io.BytesIO()
    size = write_glb([a, b], out, offset=(1000.0, 2000.0, 0.0))
    data = out.getvalue()
    assert size == len(data) and len(data) % 4 == 0
    doc, binary = read_glb(data)
    assert doc["asset"]["version"] == "2.0"
    assert doc["scenes"][0]["nodes"] == [0] and doc["nodes"][0]["children"] == [1, 2]
    assert [n["name"] for n in doc["nodes"][1:]] == ["0" * 22, "1" * 22]
    assert doc["nodes"][2]["extras"]["ifc_class"] == "IfcSlab"
    prim = doc["meshes"][doc["nodes"][2]["mesh"]]["primitives"][0]
    pos = accessor(doc, binary, prim["attributes"]["POSITION"])
    idx = accessor(doc, binary, prim["indices"])
    # local (x, y, z) - offset → glTF (x, z, -y)
    assert pos.tolist()[3] == [2.0, 5.0, -2.0]
    assert idx.tolist() == [0, 1, 2, 1, 3, 2]
    acc = doc["accessors"][prim["attributes"]["POSITION"]]
    assert acc["min"] == [0.0, 5.0, -2.0] and acc["max"] == [2.0, 5.0, 0.0]


def test_empty_model_is_still_a_glb():
    out = io.BytesIO()
    write_glb([], out)
    doc, binary = read_glb(out.getvalue())
    assert binary == b"" and "meshes" not in doc
