"""Imported once by the parse fork server, so that every parse child starts with it loaded.

Everything a parse touches is imported here, including the schedule reader (if present), and
the PROJ transformers of the Gauss-Krüger zones are built once: a child then spends its time on
the file, not on imports, and these pages are shared with the server instead of counted again
in each child.
"""

from __future__ import annotations

import importlib

import bim.ingest.run_parse  # noqa: F401  (ifcopenshell, geom, numpy, shapely, psycopg, bim.*)
from bim.georef.placement import _to_lonlat
from spatial.crs import GK_ZONES

# ifcopenshell imports a schema's derived-attribute rules the first time getattr() misses an
# attribute (e.g. PredefinedType on an IFC2X3 wall): tens of milliseconds, once per schema.
for name in ("bim.schedule", "ifcopenshell.express.rules.IFC2X3",
             "ifcopenshell.express.rules.IFC4", "ifcopenshell.express.rules.IFC4X3_ADD2"):
    try:
        importlib.import_module(name)
    except ImportError:  # the schedule reader is optional
        pass

# The map CRSs of this bureau's models are the CGCS2000 3-degree Gauss-Krüger zones: build their
# transformers once here (~40 ms each) rather than in every parse.
for code in GK_ZONES:
    _to_lonlat(f"EPSG:{code}")
