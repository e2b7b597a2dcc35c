"""Manual placement re-places a model's elements from their local footprints, no re-parse."""

from __future__ import annotations

import pyproj
import pytest

from bim.georef import make_manual_placement
from bim.ingest import get_model, load_model, place_model
from bim.settings import IngestSettings
from tests.bim.conftest import make_project
from tests.conftest import shared_file

GEOD = pyproj.Geod(ellps="GRS80")


def test_far_model_is_suspect_until_placed_by_hand(bim_conn, bim_url, tmp_path):
    # FZK-Haus says Karlsruhe; the project is in Hangzhou: stored, with the warning.
    code = make_project(bim_conn, "PLACE", 120.15, 30.28)
    model = load_model(bim_conn, url=bim_url, project_code=code,
                       path=shared_file("sample_ifc_external", "AC20-FZK-Haus.ifc"),
                       data_dir=tmp_path, settings=IngestSettings(worker=False))
    assert model["status"] == "done"
    suspect = [w for w in model["warnings"] if w["code"] == "georeferencing_suspect"]
    assert len(suspect) == 1 and suspect[0]["distance_m"] > 8_000_000
    assert "georeferencing suspect" in suspect[0]["message"]
    before = dict(bim_conn.execute(
        "SELECT global_id, ST_Area(footprint::geography) FROM sitewatch.bim_element"
        " WHERE model_id = %s AND footprint IS NOT NULL", (model["id"],)).fetchall())

    # Anchor in CGCS2000 / 3-degree GK CM 120E, E/N of Hangzhou (DOMAIN.md), turned 30°.
    outcome = place_model(bim_conn, model["id"], make_manual_placement(
        anchor={"e": 514432, "n": 3351162, "epsg": 4549}, rotation_deg=30.0))
    assert outcome["method"] == "manual" and outcome["warnings"] == []
    placed = get_model(bim_conn, model["id"])
    assert placed["georef_method"] == "manual"
    assert "georeferencing_suspect" not in {w["code"] for w in placed["warnings"]}
    lon, lat = placed["origin"]["coordinates"][:2]
    assert GEOD.inv(lon, lat, 120.15, 30.28)[2] < 1.0
    after = dict(bim_conn.execute(
        "SELECT global_id, ST_Area(footprint::geography) FROM sitewatch.bim_element"
        " WHERE model_id = %s AND footprint IS NOT NULL", (model["id"],)).fetchall())
    assert after.keys() == before.keys()
    for gid, area in before.items():   # moved and turned, not deformed
        assert after[gid] == pytest.approx(area, rel=2e-3, abs=1e-3)
    inside, = bim_conn.execute(
        "SELECT ST_DWithin(m.outline::geography, p.footprint::geography, 0)"
        " FROM sitewatch.bim_model m JOIN sitewatch.project p ON p.id = m.project_id"
        " WHERE m.id = %s", (model["id"],)).fetchone()
    assert inside

    # A lon/lat anchor far away brings the warning back.
    outcome = place_model(bim_conn, model["id"], make_manual_placement(
        anchor={"lon": 121.47, "lat": 31.23}, rotation_deg=0.0))
    assert outcome["warnings"] == ["georeferencing_suspect"]
