"""Bad input gets a clear error or warning state and leaves no half-written rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bim.errors import FileTooLarge, InvalidIfc
from bim.ingest import load_model, submit_model
from bim.settings import IngestSettings
from tests.bim.conftest import make_project
from tests.conftest import shared_file

GK = ("sample_ifc_external", "geographic-referencing-gk.ifc")
HOUSE = ("sample_ifc_external", "IfcOpenHouse_IFC4.ifc")


def counts(conn) -> tuple[int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM sitewatch.bim_model), (SELECT count(*) FROM sitewatch.job),"
        " (SELECT count(*) FROM sitewatch.bim_element)").fetchone()


def stored_files(data_dir: Path) -> set[Path]:
    return {p for p in (data_dir / "files").rglob("*") if p.is_file()} if (
        data_dir / "files").exists() else set()


@pytest.fixture
def project(bim_conn):
    return make_project(bim_conn, "BADINPUT", 120.15, 30.28)


def gk_text() -> str:
    return shared_file(*GK).read_text()


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"PK\x03\x04 zipped", "not_ifc"),
    (b"<?xml version='1.0'?><ifcXML/>", "not_ifc"),
    (b"%PDF-1.7 not a model at all", "not_ifc"),
    ("TRUNCATE", "truncated"),
    ("SCHEMA:IFC2X2_FINAL", "unsupported_schema"),
    ("SCHEMA:IFC5", "unsupported_schema"),
])
def test_rejected_before_anything_is_stored(content, reason, bim_conn, project, tmp_path):
    if content == "TRUNCATE":
        text = gk_text()
        content = text[: len(text) // 2].encode()
    elif isinstance(content, str) and content.startswith("SCHEMA:"):
        content = gk_text().replace("'IFC4X3_ADD2'", f"'{content[7:]}'").encode()
    path = tmp_path / "upload.ifc"
    path.write_bytes(content)
    before = counts(bim_conn)
    with pytest.raises(InvalidIfc) as info:
        submit_model(bim_conn, project_code=project, source=path, data_dir=tmp_path / "store",
                     max_bytes=10_000_000)
    assert info.value.reason == reason
    assert str(info.value)
    assert counts(bim_conn) == before
    assert stored_files(tmp_path / "store") == set()


def test_over_the_size_limit(bim_conn, project, tmp_path):
    before = counts(bim_conn)
    with pytest.raises(FileTooLarge):
        submit_model(bim_conn, project_code=project, source=shared_file(*HOUSE),
                     data_dir=tmp_path, max_bytes=50_000)
    assert counts(bim_conn) == before
    assert stored_files(tmp_path) == set()


def test_no_products_fails_with_reason(bim_conn, project, tmp_path, bim_url):
    text = gk_text()
    # Keep the header, units, project and site; drop the proxy, its geometry and the storey.
    kept = [line for line in text.splitlines()
            if not line.startswith(("#149", "#121", "#243", "#173", "#217", "#218", "#5"))]
    path = tmp_path / "no-products.ifc"
    path.write_text("\n".join(kept).replace("#100021= IFCRELAGGREGATES", "#100021= IFCRELAGGREGATES"))
    model = load_model(bim_conn, url=bim_url, project_code=project, path=path, data_dir=tmp_path,
                       settings=IngestSettings(worker=False))
    assert model["status"] == "failed"
    assert "no elements" in model["reason"] or "no products" in model["reason"]
    assert bim_conn.execute("SELECT count(*) FROM sitewatch.bim_element WHERE model_id = %s",
                            (model["id"],)).fetchone()[0] == 0


def test_no_products_at_all(bim_conn, project, tmp_path, bim_url):
    path = tmp_path / "empty-model.ifc"
    path.write_text(
        "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION((''),'2;1');\nFILE_NAME('','',(''),(''),'','','');\n"
        "FILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n"
        "#1=IFCPROJECT('0YvctVUKr0kugbFTf53O9L',$,'Empty',$,$,$,$,$,$);\nENDSEC;\nEND-ISO-10303-21;\n")
    model = load_model(bim_conn, url=bim_url, project_code=project, path=path, data_dir=tmp_path,
                       settings=IngestSettings(worker=False))
    assert model["status"] == "failed"
    assert model["reason"] == "the model has no products (no IfcProduct at all)"


def test_garbage_body_after_a_valid_header_fails_cleanly(bim_conn, project, tmp_path, bim_url):
    text = gk_text()
    head, _, _ = text.partition("DATA;")
    path = tmp_path / "garbage.ifc"
    path.write_text(head + "DATA;\n#1= IFCWALL('x',,,((((;\n garbage ))) \nENDSEC;\nEND-ISO-10303-21;\n")
    model = load_model(bim_conn, url=bim_url, project_code=project, path=path, data_dir=tmp_path,
                       settings=IngestSettings(worker=False))
    assert model["status"] == "failed"
    assert model["reason"]


def test_no_georeferencing_is_a_warning_state(bim_conn, project, tmp_path, bim_url):
    model = load_model(bim_conn, url=bim_url, project_code=project, path=shared_file(*HOUSE),
                       data_dir=tmp_path, settings=IngestSettings(worker=False))
    assert model["status"] == "done"
    assert model["georef_method"] == "none"
    codes = [w["code"] for w in model["warnings"]]
    assert "no_georeferencing" in codes
    # Placed provisionally on the project so it shows, not at 0°N 0°E.
    inside, = bim_conn.execute(
        "SELECT ST_DWithin(m.origin::geography, p.footprint::geography, 1)"
        " FROM sitewatch.bim_model m JOIN sitewatch.project p ON p.id = m.project_id"
        " WHERE m.id = %s", (model["id"],)).fetchone()
    assert inside
