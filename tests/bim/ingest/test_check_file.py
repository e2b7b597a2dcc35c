"""Header checks: schema aliases and the reasons given."""

from __future__ import annotations

import pytest

from bim.errors import InvalidIfc
from bim.ingest import check_file

HEAD = ("ISO-10303-21;\nHEADER;\n/* a comment with FILE_SCHEMA(('IFC2X2')) */\n"
        "FILE_SCHEMA(('{}'));\nENDSEC;\nDATA;\nENDSEC;\n")


@pytest.mark.parametrize("schema, read_as", [("IFC2X3", "IFC2X3"), ("IFC4", "IFC4"),
                                             ("IFC4X3", "IFC4X3_ADD2"),
                                             ("IFC4X3_TC1", "IFC4X3_ADD2"),
                                             ("IFC4X3_ADD2", "IFC4X3_ADD2"), ("ifc4", "IFC4")])
def test_supported(schema, read_as, tmp_path):
    path = tmp_path / "a.ifc"
    path.write_text(HEAD.format(schema) + "END-ISO-10303-21;\n/* trailing comment */\n\n")
    header = check_file(path)
    assert header.read_as == read_as and header.size == path.stat().st_size


def test_no_schema(tmp_path):
    path = tmp_path / "a.ifc"
    path.write_text("ISO-10303-21;\nHEADER;\nENDSEC;\nEND-ISO-10303-21;\n")
    with pytest.raises(InvalidIfc, match="FILE_SCHEMA"):
        check_file(path)
