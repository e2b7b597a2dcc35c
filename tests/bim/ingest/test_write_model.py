"""write_model's outline: from the parse's thread, or from PostGIS when GEOS gave up there."""

from __future__ import annotations

import ifcopenshell
import pytest
import shapely

from bim.ingest import parse_model
from bim.ingest.parse_model import outline_wkb
from bim.ingest.write_model import write_model
from tests.bim.conftest import make_project
from tests.bim.models import make_model


def _parsing_model(conn, code: str) -> int:
    """A model row of project ``code`` in the state a parse child writes into."""
    return conn.execute(
        "INSERT INTO sitewatch.bim_model (project_id, version, sha256, file_size, status)"
        " SELECT id, 1, repeat('0', 64), 0, 'parsing' FROM sitewatch.project WHERE code = %s"
        " RETURNING id", (code,)).fetchone()[0]


def _outline_area(conn, model_id: int) -> tuple[str | None, float, float]:
    """(type, area of the stored outline, area of PostGIS's union of the stored footprints)."""
    return conn.execute(
        "SELECT GeometryType(m.outline), ST_Area(m.outline::geography),"
        " (SELECT ST_Area(ST_Union(footprint)::geography) FROM sitewatch.bim_element"
        "  WHERE model_id = m.id) FROM sitewatch.bim_model m WHERE m.id = %s",
        (model_id,)).fetchone()


def test_outline_from_the_thread_or_from_postgis(bim_conn, data_dir, tmp_path):
    code = make_project(bim_conn, "OUTLINE-1", 120.15, 30.28)
    path = tmp_path / "walls.ifc"
    make_model("IFC4", walls=4).write(str(path))
    ifc = ifcopenshell.open(str(path))

    # As a large model's parse hands it over: the union made beside the write.
    parsed = parse_model(ifc, fallback_lonlat=(120.15, 30.28))
    made = outline_wkb(parsed.footprints)
    parsed.outline = lambda: made
    first = _parsing_model(bim_conn, code)
    write_model(bim_conn, first, parsed, ifc_file=ifc, data_dir=data_dir)
    kind, area, union = _outline_area(bim_conn, first)
    assert kind == "MULTIPOLYGON" and area == pytest.approx(union, rel=1e-6) and area > 0
    assert area == pytest.approx(5.0 * 0.2, rel=1e-3)   # four 5 m × 0.2 m walls, one on another

    # GEOS failing in the thread: the model is still written, the outline by PostGIS.
    def fails():
        raise shapely.errors.GEOSException("TopologyException: side location conflict")

    bim_conn.execute("DELETE FROM sitewatch.bim_model WHERE id = %s", (first,))
    parsed.outline = fails
    second = _parsing_model(bim_conn, code)
    summary = write_model(bim_conn, second, parsed, ifc_file=ifc, data_dir=data_dir)
    assert summary["elements"] == 4
    kind, area, union = _outline_area(bim_conn, second)
    assert kind == "MULTIPOLYGON" and area == pytest.approx(union, rel=1e-6) and area > 0
    assert bim_conn.execute("SELECT status FROM sitewatch.bim_model WHERE id = %s",
                            (second,)).fetchone()[0] == "done"
