"""A database of its own for the tile tests: the sample city with 2,000 projects (seed 3), dense
enough that city-zoom tiles hold hundreds of features, and free to add scratch tables to."""

from __future__ import annotations

import morecantile
import psycopg
import pytest
from psycopg import sql

from spatial import db, sample_city
from tests.conftest import fresh_database

TILES_PROJECTS = 2000
TILES_SEED = 3


@pytest.fixture(scope="session")
def tiles_url(database_url: str) -> str:
    url = fresh_database(database_url, "sitewatch_tiles")
    with db.connect(url) as conn:
        sample_city.load(conn, projects=TILES_PROJECTS, seed=TILES_SEED)
    with db.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


@pytest.fixture
def tiles_conn(tiles_url: str):
    """An autocommit connection: what a test writes is visible to the next statement."""
    with db.connect(tiles_url, autocommit=True) as conn:
        yield conn


def densest_tile(conn: psycopg.Connection, z: int, table: str = "sitewatch.project",
                 geom: str = "footprint") -> tuple[int, int, int]:
    """(z, y, x) of the tile holding the most feature centroids, computed in Python."""
    query = sql.SQL("SELECT ST_X(ST_Centroid({g})), ST_Y(ST_Centroid({g})) FROM {t} "
                    "WHERE {g} IS NOT NULL").format(g=sql.Identifier(geom),
                                                    t=sql.Identifier(*table.split(".")))
    rows = conn.execute(query).fetchall()
    tms = morecantile.tms.get("WebMercatorQuad")
    counts: dict[tuple[int, int], int] = {}
    for lon, lat in rows:
        t = tms.tile(lon, lat, z)
        counts[(t.y, t.x)] = counts.get((t.y, t.x), 0) + 1
    (y, x), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return z, y, x


def expected_ids(conn: psycopg.Connection, z: int, y: int, x: int,
                 table: str = "sitewatch.project", geom: str = "footprint",
                 key: str = "code") -> set[str]:
    """Features a tile must hold, computed independently: ST_Intersects with the tile envelope
    transformed to the storage CRS."""
    rows = conn.execute(
        sql.SQL("SELECT {}::text FROM {} WHERE ST_Intersects({}, "
                "ST_Transform(ST_TileEnvelope(%s, %s, %s), 4490))").format(
            sql.SQL(key), sql.SQL(table), sql.SQL(geom)), (z, x, y)).fetchall()
    return {r[0] for r in rows}


def coordinates(geometry: dict):
    """Every (x, y) of a decoded MVT geometry."""
    def walk(c):
        if c and isinstance(c[0], (int, float)):
            yield c
        else:
            for part in c:
                yield from walk(part)
    yield from walk(geometry["coordinates"])

