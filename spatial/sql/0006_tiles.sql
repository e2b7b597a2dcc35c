-- 0006: tiles.
-- 1. Change counters that make tile ETags exact: every write statement on a tracked table adds
--    a row to tile_change inside the writing transaction, so a reader sees the new count exactly
--    when it sees the new rows (never a new ETag on old data, never the old ETag on new data).
--    A table's version is the sum of its rows.  Writers only insert, so concurrent writers never
--    wait for one another (an updated counter row would serialise them until commit, and could
--    deadlock two transactions writing two tracked tables in opposite orders); now and then a
--    writer folds a table's rows into one, which keeps the sum and so the ETags.
-- 2. Raster layers (site orthophoto, DEM) attached to a project, read from GeoTIFF files.

CREATE TABLE sitewatch.tile_change (
    table_name  text NOT NULL,             -- schema-qualified, format('%I.%I', schema, table)
    n           bigint NOT NULL            -- 1 per write statement; a folded row holds a sum
);
CREATE INDEX tile_change_table_idx ON sitewatch.tile_change (table_name) INCLUDE (n);

CREATE FUNCTION sitewatch.bump_tile_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    name text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
BEGIN
    INSERT INTO sitewatch.tile_change (table_name, n) VALUES (name, 1);
    -- About one statement in 16 folds the committed rows of its table (one folder at a time per
    -- table; the others skip instead of waiting).  The sum is unchanged.
    IF random() < 0.0625 AND pg_try_advisory_xact_lock(hashtext('sitewatch.tile_change'),
                                                       hashtext(name)) THEN
        WITH gone AS (DELETE FROM sitewatch.tile_change WHERE table_name = name RETURNING n)
        INSERT INTO sitewatch.tile_change (table_name, n) SELECT name, sum(n) FROM gone;
    END IF;
    RETURN NULL;
END
$$;

-- Track one table: a statement-level trigger (one row per statement, not per row) and a first
-- row worth the clock in microseconds, so that a database rebuilt from scratch never hands out
-- a version a client may still hold from the previous one.  Idempotent.  Tables of later
-- migrations call this for themselves.
CREATE FUNCTION sitewatch.track_tile_changes(target regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text;
BEGIN
    SELECT format('%I.%I', n.nspname, c.relname) INTO name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
    EXECUTE format('CREATE OR REPLACE TRIGGER tile_change AFTER INSERT OR UPDATE OR DELETE OR '
                   'TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION sitewatch.bump_tile_change()',
                   target);
    IF NOT EXISTS (SELECT 1 FROM sitewatch.tile_change WHERE table_name = name) THEN
        INSERT INTO sitewatch.tile_change (table_name, n)
        VALUES (name, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    END IF;
END
$$;

SELECT sitewatch.track_tile_changes(t::regclass)
FROM unnest(ARRAY['sitewatch.district', 'sitewatch.project', 'sitewatch.bim_model',
                  'sitewatch.bim_element', 'sitewatch.schedule', 'sitewatch.task',
                  'sitewatch.task_element']) AS t;

CREATE TABLE sitewatch.project_raster (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('orthophoto', 'dem')),
    title        text,
    path         text NOT NULL,            -- relative to $SITEWATCH_DATA/files, or absolute
    crs          text NOT NULL,            -- the file's CRS, e.g. EPSG:4549
    width        integer NOT NULL CHECK (width > 0),
    height       integer NOT NULL CHECK (height > 0),
    band_count   smallint NOT NULL CHECK (band_count > 0),
    dtype        text NOT NULL,
    resolution   double precision NOT NULL CHECK (resolution > 0),  -- metres per pixel
    nodata       double precision,
    min_value    double precision,         -- DEM: the colour ramp's range (metres)
    max_value    double precision,
    captured_on  date,
    file_size    bigint NOT NULL,
    file_mtime   timestamptz NOT NULL,     -- with file_size, part of the tile ETag
    footprint    geometry(Polygon, 4490) NOT NULL,   -- the raster's extent on the map
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, path)
);
CREATE INDEX project_raster_project_idx ON sitewatch.project_raster (project_id);
CREATE INDEX project_raster_footprint_idx ON sitewatch.project_raster USING gist (footprint);
