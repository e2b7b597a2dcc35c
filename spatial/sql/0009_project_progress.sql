-- 0009: each project's progress at the current date (PV, EV, SPI, SV(t), card) for the
-- `projects` collection and the map.  A snapshot written by bim.progress.refresh_progress
-- (docs/progress.md, "Projects on the map"): after site reports and model loads, and once a day
-- for every project with a schedule, when PV moves with the date and month-end cards are checked.

CREATE TABLE sitewatch.project_progress (
    project_id      bigint PRIMARY KEY REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    status_date     date NOT NULL,                 -- the date the figures are for (Asia/Shanghai)
    model_id        bigint REFERENCES sitewatch.bim_model (id) ON DELETE SET NULL,
    pv              double precision,              -- fractions of the whole, 0..1
    ev              double precision,
    sv              double precision,
    spi             double precision,
    sv_t            double precision,              -- days
    spi_t           double precision,
    forecast_finish timestamptz,
    card            text CHECK (card IN ('none', 'yellow', 'red')),   -- latest check ≤ status_date
    status_counts   jsonb NOT NULL DEFAULT '{}'::jsonb,               -- leaf tasks per status
    computed_at     timestamptz NOT NULL DEFAULT now()
);
-- A changed card recolours the project on the map: tiles of `projects` read this table.
SELECT sitewatch.track_tile_changes('sitewatch.project_progress'::regclass);

-- The `projects` collection: the ledger with its progress.  The columns of `project` are listed
-- by `p.*` when the view is created: a migration that adds ledger columns recreates this view.
CREATE VIEW sitewatch.project_feature AS
SELECT p.*,
       pp.status_date AS progress_date, pp.pv, pp.ev, pp.sv, pp.spi, pp.sv_t, pp.spi_t,
       pp.forecast_finish, pp.card
FROM sitewatch.project p
LEFT JOIN sitewatch.project_progress pp ON pp.project_id = p.id;

COMMENT ON VIEW sitewatch.project_feature IS
    'OGC collection projects: the project ledger with progress at the current date';
