-- 0007: progress reported from site (per task or per element), replayable by client_id.
-- The formulas that read these rows are in docs/progress.md.

CREATE TABLE sitewatch.progress_report (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id       bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    client_id        text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),  -- idempotency key
    task_id          bigint REFERENCES sitewatch.task (id) ON DELETE CASCADE,
    element_ids      bigint[],                     -- bim_element ids (element-level report)
    percent_complete double precision CHECK (percent_complete BETWEEN 0 AND 100),
    status           text CHECK (status IN ('not_started', 'in_progress', 'done')),
    actual_start     timestamptz,
    actual_finish    timestamptz,
    reported_at      timestamptz NOT NULL,
    reporter         text,
    note             text,
    photo_sha256     text CHECK (photo_sha256 ~ '^[0-9a-f]{64}$'),
    received_at      timestamptz NOT NULL DEFAULT now(),
    token_id         bigint REFERENCES sitewatch.api_token (id) ON DELETE SET NULL,
    UNIQUE (project_id, client_id),
    CHECK ((task_id IS NULL) <> (element_ids IS NULL)),
    CHECK (percent_complete IS NOT NULL OR status IS NOT NULL),
    CHECK (actual_finish IS NULL OR actual_start IS NULL OR actual_finish >= actual_start)
);
-- "The latest report per task at or before D".
CREATE INDEX progress_report_task_idx ON sitewatch.progress_report
    (task_id, reported_at DESC, received_at DESC) WHERE task_id IS NOT NULL;

-- One row per element of an element-level report, for "the latest report per element at or before D".
CREATE TABLE sitewatch.progress_report_element (
    report_id        bigint NOT NULL REFERENCES sitewatch.progress_report (id) ON DELETE CASCADE,
    element_id       bigint NOT NULL REFERENCES sitewatch.bim_element (id) ON DELETE CASCADE,
    reported_at      timestamptz NOT NULL,
    percent_complete double precision,
    PRIMARY KEY (report_id, element_id)
);
CREATE INDEX progress_report_element_idx ON sitewatch.progress_report_element
    (element_id, reported_at DESC, report_id DESC);

-- Alert cards (红黄牌), one row per project and monthly check (docs/progress.md, "Alert cards").
CREATE TABLE sitewatch.project_card_check (
    project_id   bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    check_date   date NOT NULL,                    -- a month end
    card         text NOT NULL CHECK (card IN ('none', 'yellow', 'red')),
    streak       integer NOT NULL CHECK (streak >= 0),   -- consecutive checks with overdue work
    overdue      jsonb NOT NULL DEFAULT '[]'::jsonb,     -- task identifications not done in time
    changed      boolean NOT NULL,                 -- card differs from the previous check
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, check_date)
);

-- Card changes to tell the responsible units and the district supervisor (delivery: not built yet).
CREATE TABLE sitewatch.card_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    check_date   date NOT NULL,
    recipient_role text NOT NULL CHECK (recipient_role IN (
                     'construction_unit', 'contractor_unit', 'supervision_unit',
                     'district_supervisor')),
    recipient    text NOT NULL,                    -- credit code, or district code
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, check_date, recipient_role)
);
