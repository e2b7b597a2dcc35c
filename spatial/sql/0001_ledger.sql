-- 0001: the project ledger (项目台账): districts, enterprises, projects, stage history, API tokens.
-- Geometry is stored in CGCS2000 (EPSG:4490), lon/lat order as PostGIS keeps it.

-- Into public explicitly: with a user named like the schema, "$user" would win and every
-- client without sitewatch on its search_path (QGIS, GDAL) would miss the PostGIS functions.
CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public;

CREATE TABLE sitewatch.district (
    code              text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),      -- GB/T 2260
    name              text NOT NULL,
    name_en           text,
    parent_code       text,
    synthetic_boundary boolean NOT NULL DEFAULT false,
    boundary_note     text,
    geom              geometry(MultiPolygon, 4490) NOT NULL
);
CREATE INDEX district_geom_idx ON sitewatch.district USING gist (geom);

CREATE TABLE sitewatch.enterprise (
    credit_code  text PRIMARY KEY CHECK (credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'),  -- GB 32100
    name         text NOT NULL,
    roles        text[] NOT NULL DEFAULT '{}'
        CHECK (roles <@ ARRAY['construction', 'contractor', 'supervision', 'survey', 'design']),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sitewatch.project (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address            text,
    district_code      text NOT NULL REFERENCES sitewatch.district (code),
    permit_no          text CHECK (permit_no ~ '^[0-9]{18}$'),                -- 施工许可证编号
    type               text NOT NULL CHECK (type IN (
                           'housing', 'public_building', 'municipal', 'industrial', 'transport', 'water')),
    stage              text NOT NULL CHECK (stage IN (
                           'approval', 'planning_permit', 'drawing_review', 'tendering',
                           'supervision_registration', 'construction_permit', 'under_construction',
                           'completion_acceptance', 'filing')),
    key_livelihood     text CHECK (key_livelihood IN ('affordable_housing', 'school', 'hospital')),
    construction_unit  text REFERENCES sitewatch.enterprise (credit_code),   -- 建设单位
    contractor_unit    text REFERENCES sitewatch.enterprise (credit_code),   -- 施工单位
    supervision_unit   text REFERENCES sitewatch.enterprise (credit_code),   -- 监理单位
    survey_unit        text REFERENCES sitewatch.enterprise (credit_code),   -- 勘察单位
    design_unit        text REFERENCES sitewatch.enterprise (credit_code),   -- 设计单位
    investment         numeric(14, 2) CHECK (investment >= 0),                    -- 万元
    floor_area         numeric(12, 2) CHECK (floor_area >= 0),                    -- m²
    storeys            smallint CHECK (storeys BETWEEN 0 AND 200),
    planned_start      date,
    planned_finish     date,
    actual_start       date,
    actual_finish      date,
    project_manager    text,
    chief_supervisor   text,
    image_progress     text,                                                      -- 形象进度
    hazardous_works    jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(hazardous_works) = 'array'),
    footprint_estimated boolean NOT NULL DEFAULT false,   -- true when built from a point in a table import
    footprint          geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(footprint)),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (planned_finish IS NULL OR planned_start IS NULL OR planned_finish >= planned_start),
    CHECK (actual_finish IS NULL OR actual_start IS NULL OR actual_finish >= actual_start)
);
CREATE INDEX project_footprint_idx ON sitewatch.project USING gist (footprint);
CREATE INDEX project_district_idx ON sitewatch.project (district_code);
CREATE INDEX project_stage_idx ON sitewatch.project (stage);
CREATE INDEX project_investment_idx ON sitewatch.project (investment);
CREATE INDEX project_planned_idx ON sitewatch.project (planned_start, planned_finish);
CREATE INDEX project_parties_idx ON sitewatch.project (contractor_unit);

CREATE TABLE sitewatch.project_stage_history (
    project_id   bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    stage        text NOT NULL,
    entered_on   date NOT NULL,
    note         text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, stage, entered_on)
);

CREATE TABLE sitewatch.api_token (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,                   -- sha256 of the token; the token is never stored
    role        text NOT NULL CHECK (role IN ('admin', 'supervisor', 'enterprise', 'gateway')),
    scope       text,                                    -- e.g. a credit code or a district code
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
