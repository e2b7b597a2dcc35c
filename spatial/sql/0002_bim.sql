-- 0002: BIM models, their parse jobs, elements, and 4D schedules.
-- A model is one IFC file (stored by sha256) of one project; a changed file is a new version.

CREATE TABLE sitewatch.bim_model (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    version         integer NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    file_name       text,
    file_size       bigint NOT NULL CHECK (file_size >= 0),
    status          text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'parsing', 'done', 'failed')),
    failure_reason  text,
    warnings        jsonb NOT NULL DEFAULT '[]'::jsonb,
    ifc_schema      text,                         -- IFC2X3, IFC4, IFC4X3_ADD2
    summary         jsonb,                        -- counts by class, storeys, georef, schedule
    -- Georeferencing outcome: how the model's local frame maps to the map.
    georef_method   text CHECK (georef_method IN ('map_conversion', 'epset_map_conversion',
                                                  'site_reference', 'manual', 'none')),
    georef          jsonb,                        -- eastings, northings, rotation, scale, crs, ...
    origin          geometry(PointZ, 4490),       -- map position of the local frame's origin
    outline         geometry(MultiPolygon, 4490), -- union of element footprints
    mesh_sha256     text,                         -- GLB in the file store
    uploaded_by     bigint REFERENCES sitewatch.api_token (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    UNIQUE (project_id, sha256),
    UNIQUE (project_id, version)
);
CREATE INDEX bim_model_status_idx ON sitewatch.bim_model (status) WHERE status IN ('queued', 'parsing');

-- Background work (IFC parsing, notifications) taken with FOR UPDATE SKIP LOCKED.
CREATE TABLE sitewatch.job (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,                    -- e.g. 'ifc_parse'
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    run_after    timestamptz NOT NULL DEFAULT now(),
    locked_by    text,
    locked_at    timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX job_queue_idx ON sitewatch.job (kind, run_after) WHERE status = 'queued';

CREATE TABLE sitewatch.bim_element (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id        bigint NOT NULL REFERENCES sitewatch.bim_model (id) ON DELETE CASCADE,
    global_id       text NOT NULL CHECK (length(global_id) = 22),
    ifc_class       text NOT NULL,
    predefined_type text,
    name            text,
    type_name       text,
    storey          text,
    material        text,
    psets           jsonb NOT NULL DEFAULT '{}'::jsonb,   -- key property sets
    quantities      jsonb NOT NULL DEFAULT '{}'::jsonb,   -- {"volume": m3, "area": m2, "length": m, ...}
    quantity_source text CHECK (quantity_source IN ('qto', 'base_quantities', 'geometry')),
    bottom_elevation double precision,                    -- metres, above the model's datum
    top_elevation    double precision,
    local_footprint geometry(MultiPolygon),               -- in the model's local frame, metres (for re-placing)
    footprint       geometry(MultiPolygon, 4490),         -- on the map
    mesh_index      integer,                              -- node/feature index in the model's GLB
    UNIQUE (model_id, global_id)
);
CREATE INDEX bim_element_footprint_idx ON sitewatch.bim_element USING gist (footprint);
CREATE INDEX bim_element_class_idx ON sitewatch.bim_element (model_id, ifc_class);

CREATE TABLE sitewatch.schedule (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id       bigint NOT NULL REFERENCES sitewatch.bim_model (id) ON DELETE CASCADE,
    source         text NOT NULL CHECK (source IN ('ifc', 'msproject')),
    source_id      text,                          -- GlobalId of IfcWorkSchedule / MSPDI UID
    name           text,
    purpose        text CHECK (purpose IN ('planned', 'baseline', 'actual', 'other')),
    calendar       jsonb,                         -- working days/hours where the schedule has one
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sitewatch.task (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id     bigint NOT NULL REFERENCES sitewatch.schedule (id) ON DELETE CASCADE,
    parent_id       bigint REFERENCES sitewatch.task (id) ON DELETE CASCADE,  -- WBS
    source_id       text,                         -- GlobalId / MSPDI UID
    identification  text,                         -- the task id people use (TaskId, WBS code)
    name            text,
    is_milestone    boolean NOT NULL DEFAULT false,
    planned_start   timestamptz,
    planned_finish  timestamptz,
    baseline_start  timestamptz,
    baseline_finish timestamptz,
    date_source     text,                         -- schedule, early, duration, ...
    duration_days   double precision,
    CHECK (planned_finish IS NULL OR planned_start IS NULL OR planned_finish >= planned_start)
);
CREATE INDEX task_schedule_idx ON sitewatch.task (schedule_id);
CREATE INDEX task_parent_idx ON sitewatch.task (parent_id);

CREATE TABLE sitewatch.task_dependency (
    predecessor_id  bigint NOT NULL REFERENCES sitewatch.task (id) ON DELETE CASCADE,
    successor_id    bigint NOT NULL REFERENCES sitewatch.task (id) ON DELETE CASCADE,
    kind            text NOT NULL DEFAULT 'FS' CHECK (kind IN ('FS', 'SS', 'FF', 'SF')),
    lag_days        double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (predecessor_id, successor_id)
);

CREATE TABLE sitewatch.task_element (
    task_id     bigint NOT NULL REFERENCES sitewatch.task (id) ON DELETE CASCADE,
    element_id  bigint NOT NULL REFERENCES sitewatch.bim_element (id) ON DELETE CASCADE,
    relation    text NOT NULL DEFAULT 'output' CHECK (relation IN ('output', 'input')),
    PRIMARY KEY (task_id, element_id, relation)
);
CREATE INDEX task_element_element_idx ON sitewatch.task_element (element_id);
