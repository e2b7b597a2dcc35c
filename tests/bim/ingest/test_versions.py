"""Files are stored by sha256: same bytes, same model; changed bytes, the next version."""

from __future__ import annotations

import hashlib

from bim.ingest import load_model, submit_model
from bim.ingest.store_file import file_path
from bim.settings import IngestSettings
from tests.bim.conftest import make_project
from tests.conftest import shared_file

HOUSE = ("sample_ifc_external", "IfcOpenHouse_IFC4.ifc")


def test_same_bytes_same_model_changed_bytes_new_version(bim_conn, bim_url, tmp_path):
    code = make_project(bim_conn, "VERSIONS", 120.15, 30.28)
    source = shared_file(*HOUSE)
    settings = IngestSettings(worker=False)
    first = load_model(bim_conn, url=bim_url, project_code=code, path=source, data_dir=tmp_path,
                       settings=settings)
    assert first["status"] == "done" and first["version"] == 1
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert first["sha256"] == digest
    assert file_path(tmp_path, digest).read_bytes() == source.read_bytes()

    again = submit_model(bim_conn, project_code=code, source=source, data_dir=tmp_path,
                         max_bytes=10**8)
    assert again["model_id"] == first["id"] and not again["created"]
    assert bim_conn.execute(
        "SELECT count(*) FROM sitewatch.bim_model m JOIN sitewatch.project p"
        " ON p.id = m.project_id WHERE p.code = %s", (code,)).fetchone()[0] == 1

    changed = tmp_path / "house-v2.ifc"
    changed.write_bytes(source.read_bytes().replace(b"IfcOpenHouse", b"IfcOpenHouse v2", 1))
    second = load_model(bim_conn, url=bim_url, project_code=code, path=changed,
                        data_dir=tmp_path, settings=settings)
    assert second["status"] == "done" and second["version"] == 2 and second["id"] != first["id"]
    # The earlier version stays queryable, element for element.
    per_model = dict(bim_conn.execute(
        "SELECT model_id, count(*) FROM sitewatch.bim_element WHERE model_id = ANY(%s)"
        " GROUP BY 1", ([first["id"], second["id"]],)).fetchall())
    assert per_model[first["id"]] == per_model[second["id"]] == first["summary"]["elements"]
    latest = dict(bim_conn.execute(
        "SELECT model_id, bool_and(latest) FROM sitewatch.bim_element_feature"
        " WHERE project_code = %s GROUP BY 1", (code,)).fetchall())
    assert latest == {first["id"]: False, second["id"]: True}


def test_same_bytes_in_another_project_is_another_model(bim_conn, bim_url, tmp_path):
    a = make_project(bim_conn, "SHARED_A", 120.15, 30.28)
    b = make_project(bim_conn, "SHARED_B", 120.16, 30.28)
    source = shared_file(*HOUSE)
    one = submit_model(bim_conn, project_code=a, source=source, data_dir=tmp_path, max_bytes=10**8)
    two = submit_model(bim_conn, project_code=b, source=source, data_dir=tmp_path, max_bytes=10**8)
    assert one["model_id"] != two["model_id"] and one["sha256"] == two["sha256"]
    assert len([p for p in (tmp_path / "files").rglob("*.ifc")]) == 1   # stored once
