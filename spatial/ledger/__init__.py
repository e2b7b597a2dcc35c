"""Batch import and export of the project ledger (项目台账).

``import_file`` upserts projects from GeoPackage, Shapefile, GeoJSON, XLSX or CSV (Chinese or
English headers) in one transaction; ``export_ledger`` writes every project as gpkg, geojson,
xlsx or csv; ``FORMATS`` maps each export format to its media type.  The CLI (``sitewatch ledger
import|export``) and ``GET /api/v1/projects/export`` call exactly these.
"""

from __future__ import annotations

from spatial.ledger.export import FORMATS, export_ledger
from spatial.ledger.importer import import_file

__all__ = ["FORMATS", "export_ledger", "import_file"]
