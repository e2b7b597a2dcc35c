"""Reject what is not an IFC model SiteWatch can read, before anything is stored or parsed.

Cheap checks on the bytes only (the head and the tail of the file): empty, not an ISO 10303-21
(STEP) file, truncated (no ``END-ISO-10303-21;``), a schema other than IFC2X3, IFC4 and the
IFC4X3 family.  IFC4X3, IFC4X3_TC1 and IFC4X3_ADD1 files are read with ifcopenshell's
IFC4X3_ADD2 schema, of which they are (for what SiteWatch reads) subsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bim.errors import InvalidIfc

__all__ = ["IfcHeader", "SUPPORTED_SCHEMAS", "check_file"]

SUPPORTED_SCHEMAS = {"IFC2X3": "IFC2X3", "IFC4": "IFC4", "IFC4X3": "IFC4X3_ADD2",
                     "IFC4X3_TC1": "IFC4X3_ADD2", "IFC4X3_ADD1": "IFC4X3_ADD2",
                     "IFC4X3_ADD2": "IFC4X3_ADD2"}
_HEAD = 64 * 1024
_TAIL = 4 * 1024
_SCHEMA = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.IGNORECASE)
_COMMENT = re.compile(rb"/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class IfcHeader:
    schema: str          # as declared, upper case (e.g. IFC4X3_ADD2)
    read_as: str         # the ifcopenshell schema used to read it
    size: int


def check_file(path: Path | str) -> IfcHeader:
    """The file's declared schema, or :class:`~bim.errors.InvalidIfc` saying what is wrong."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise InvalidIfc("the file is empty (0 bytes)", reason="empty")
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
        fh.seek(max(0, size - _TAIL))
        tail = fh.read()
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"PK\x03\x04"):
        raise InvalidIfc("this is a ZIP archive (ifcZIP?); upload the .ifc file itself",
                         reason="not_ifc")
    if text.startswith(b"<"):
        raise InvalidIfc("this is XML (ifcXML?); only IFC-SPF (.ifc) files are read",
                         reason="not_ifc")
    if not text.startswith(b"ISO-10303-21;"):
        raise InvalidIfc("not an IFC file: it does not start with ISO-10303-21;", reason="not_ifc")
    match = _SCHEMA.search(_COMMENT.sub(b"", head))
    if not match:
        raise InvalidIfc("the header has no FILE_SCHEMA", reason="no_schema")
    schema = match.group(1).decode("ascii", "replace").strip().upper()
    if schema not in SUPPORTED_SCHEMAS:
        raise InvalidIfc(f"unsupported IFC schema {schema!r} (IFC2X3, IFC4 and IFC4X3 are read)",
                         reason="unsupported_schema")
    end = _COMMENT.sub(b"", tail).rstrip()
    if not end.endswith(b"END-ISO-10303-21;"):
        raise InvalidIfc("the file is truncated: it does not end with END-ISO-10303-21;",
                         reason="truncated")
    return IfcHeader(schema, SUPPORTED_SCHEMAS[schema], size)
