"""PostGIS storage for SiteWatch: the private cluster, migrations, queries and CRS handling.

Nothing here imports Flask; functions take a ``psycopg.Connection`` (or settings) and return data.
"""
