"""parse_model on its own (no database): determinism, repeated GlobalIds, far-away geometry."""

from __future__ import annotations

import ifcopenshell
import ifcopenshell.api.geometry
import numpy as np
import pytest

from bim.errors import ParseFailed
from bim.ingest import parse_model
from tests.bim.glb import accessor, read_glb
from tests.bim.models import make_model
from tests.conftest import shared_file


def reopen(model: ifcopenshell.file, tmp_path) -> ifcopenshell.file:
    path = tmp_path / "m.ifc"
    model.write(str(path))
    return ifcopenshell.open(str(path))


def test_same_file_same_glb():
    model = ifcopenshell.open(str(shared_file("sample_ifc_external", "Duplex_A_IFC2X3.ifc")))
    first, second = parse_model(model, threads=2), parse_model(model, threads=2)
    assert first.glb == second.glb
    assert [r.get("mesh_index") for r in first.rows] == [r.get("mesh_index") for r in second.rows]


def test_repeated_global_ids_are_skipped_with_a_warning(tmp_path):
    model = make_model("IFC4", walls=3)
    walls = model.by_type("IfcWall")
    walls[1].GlobalId = walls[0].GlobalId
    parsed = parse_model(reopen(model, tmp_path), fallback_lonlat=(120.15, 30.28))
    assert len(parsed.rows) == 2
    warning = [w for w in parsed.warnings if w["code"] == "duplicate_global_id"]
    assert warning and warning[0]["count"] == 1


def test_far_geometry_gets_a_glb_offset(tmp_path):
    model = make_model("IFC4", walls=1)
    wall = model.by_type("IfcWall")[0]
    matrix = np.eye(4)
    matrix[:3, 3] = (514432.0, 3351162.0, 0.0)
    ifcopenshell.api.geometry.edit_object_placement(model, product=wall, matrix=matrix)
    parsed = parse_model(reopen(model, tmp_path), fallback_lonlat=(120.15, 30.28))
    assert parsed.glb_offset == (514432.0, 3351162.0, 0.0)
    doc, binary = read_glb(parsed.glb)
    positions = accessor(doc, binary, 0)
    assert np.abs(positions).max() < 10          # metres from the offset, not 3 million
    assert parsed.rows[0]["bottom_elevation"] == 0.0


def test_only_spatial_structure_is_not_a_model(tmp_path):
    model = make_model("IFC4", walls=0)
    with pytest.raises(ParseFailed, match="no elements"):
        parse_model(reopen(model, tmp_path))


@pytest.mark.parametrize("name", [("sample_ifc_external", "Duplex_A_IFC2X3.ifc"),
                                  ("sample_ifc_external", "AC20-FZK-Haus.ifc")])
def test_shapes_from_the_helper_process_give_the_same_result(name):
    from bim.elements import get_elements
    from bim.ingest._shape_helper import ShapeHelper

    model = ifcopenshell.open(str(shared_file(*name)))
    here = parse_model(model, fallback_lonlat=(120.15, 30.28))
    with ShapeHelper(model, get_elements(model)) as helper:
        there = parse_model(model, fallback_lonlat=(120.15, 30.28), shapes=helper)
        assert helper.memory_mb >= 0       # sampled: a small model may not grow it measurably
    assert there.glb == here.glb
    assert there.rows == here.rows
    assert [None if g is None else g.wkb for g in there.footprints] == \
        [None if g is None else g.wkb for g in here.footprints]


def test_a_helper_closed_early_leaves_no_process():
    import os

    from bim.elements import get_elements
    from bim.ingest._shape_helper import ShapeHelper

    model = ifcopenshell.open(str(shared_file("sample_ifc_external", "Office_A_20110811.ifc")))
    helper = ShapeHelper(model, get_elements(model))
    pid = helper.pid
    next(iter(helper))                   # one shape, then give up
    helper.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)      # killed and reaped
