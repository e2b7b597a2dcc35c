"""IFC (BIM) ingest: open/validate, georeferencing, elements, geometry and 4D schedules."""
