-- 0004: live site sensors: registry, rules (defaults as data), month-partitioned readings, dead
-- letters, per-sensor rule state, alarms with their transitions, webhooks, place rules, outbox.
--
-- Owned by the sensors package (sensors/*).  Readings carry no foreign key (it would cost a
-- lookup per row on the hot path); a TRUNCATE of sensor (the sample city empties the ledger with
-- TRUNCATE ... CASCADE) empties them through a trigger, and deleting a sensor deletes its readings
-- in sensors.registry.  Sensor ids come from a sequence no table owns, so they never recur, not
-- even after TRUNCATE ... RESTART IDENTITY.

-- -- kinds and default rules (DOMAIN.md) ------------------------------------------------------------

CREATE TABLE sitewatch.sensor_kind (
    kind           text PRIMARY KEY,
    unit           text NOT NULL,                 -- canonical unit readings must be in
    title          text NOT NULL,
    title_zh       text NOT NULL,
    display_rules  text[] NOT NULL                -- rules whose levels the map shows, first active wins
);

INSERT INTO sitewatch.sensor_kind VALUES
    ('pm10', 'µg/m³', 'PM10', '颗粒物PM10', '{mean_15min,mean_24h}'),
    ('pm25', 'µg/m³', 'PM2.5', '颗粒物PM2.5', '{mean_15min,mean_24h}'),
    ('tsp', 'µg/m³', 'Total suspended particulates', '总悬浮颗粒物TSP', '{mean_15min,mean_24h}'),
    ('noise', 'dB(A)', 'Construction noise', '施工噪声', '{day,night}'),
    ('pit_wall_displacement', 'mm', 'Pit wall-top displacement', '基坑围护墙顶位移', '{cumulative,rate}'),
    ('settlement', 'mm', 'Ground settlement', '地表沉降', '{cumulative,rate}'),
    ('deep_displacement', 'mm', 'Deep horizontal displacement', '深层水平位移', '{cumulative,rate}'),
    ('strut_force', 'kN', 'Strut axial force', '支撑轴力', '{force}'),
    ('tilt', '‰', 'Tilt', '倾斜', '{level}'),
    ('crane_load_moment', '%', 'Crane load moment (of rated)', '塔吊力矩百分比', '{level}'),
    ('wind_speed', 'm/s', 'Wind speed', '风速', '{level}'),
    ('water_level', 'm', 'Groundwater level change', '地下水位变化', '{cumulative,rate}');

-- Rules are keyed by rule id; each has warning, alarm and clear levels (clear < warning <= alarm:
-- an episode opens at warning and closes only below clear).  Types: threshold (optionally only
-- between local "from" and "to", optionally as a percentage of "percent_of"), rolling_mean
-- (window_s, allowed_exceedances_per_day counted per clock-aligned window), cumulative (|value -
-- baseline|) and rate (change per day, alarm only when "days" consecutive days all exceed it).
-- Profiles other than 'standard' hold only what differs; project and sensor overrides merge on top
-- (a JSON null removes a rule).  Figures marked "local choice" are not in DOMAIN.md.
CREATE TABLE sitewatch.sensor_rule_default (
    kind     text NOT NULL REFERENCES sitewatch.sensor_kind (kind),
    profile  text NOT NULL DEFAULT 'standard',
    rules    jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'object'),
    note     text,
    PRIMARY KEY (kind, profile)
);

INSERT INTO sitewatch.sensor_rule_default (kind, profile, rules, note) VALUES
('noise', 'standard', '{
  "day":   {"type": "threshold", "from": "06:00", "to": "22:00", "timezone": "Asia/Shanghai", "warning": 67, "alarm": 70, "clear": 65},
  "night": {"type": "threshold", "from": "22:00", "to": "06:00", "timezone": "Asia/Shanghai", "warning": 52, "alarm": 55, "clear": 50}}',
 'GB 12523-2011: 70 dB(A) by day (06-22), 55 at night; warning and clear margins are a local choice'),
('pm10', 'standard', '{
  "mean_15min": {"type": "rolling_mean", "window_s": 900, "warning": 60, "alarm": 80, "clear": 50, "allowed_exceedances_per_day": 2, "timezone": "Asia/Shanghai"},
  "mean_24h":   {"type": "rolling_mean", "window_s": 86400, "warning": 120, "alarm": 150, "clear": 100}}',
 'site limit 80 µg/m³ with 2 exceedances a day (DB13/2934-2019), 15-minute means (DB31/964-2016); 150 µg/m³ 24-h mean (GB 3095-2012 II)'),
('pm25', 'standard', '{
  "mean_15min": {"type": "rolling_mean", "window_s": 900, "warning": 60, "alarm": 75, "clear": 50, "allowed_exceedances_per_day": 2, "timezone": "Asia/Shanghai"},
  "mean_24h":   {"type": "rolling_mean", "window_s": 86400, "warning": 60, "alarm": 75, "clear": 50}}',
 '75 µg/m³ 24-h mean (GB 3095-2012 II); the 15-minute site limit is a local choice'),
('tsp', 'standard', '{
  "mean_15min": {"type": "rolling_mean", "window_s": 900, "warning": 400, "alarm": 500, "clear": 350, "allowed_exceedances_per_day": 2, "timezone": "Asia/Shanghai"},
  "mean_24h":   {"type": "rolling_mean", "window_s": 86400, "warning": 240, "alarm": 300, "clear": 200}}',
 '300 µg/m³ 24-h mean (GB 3095-2012 II); the 15-minute site limit is a local choice'),
('pit_wall_displacement', 'standard', '{
  "cumulative": {"type": "cumulative", "baseline": 0, "warning": 24, "alarm": 30, "clear": 21},
  "rate":       {"type": "rate", "days": 2, "warning": 2.4, "alarm": 3, "clear": 1.5}}',
 'GB 50497-2019 typical plan: 30 mm cumulative or 3 mm/day on 2 consecutive days; warning at 80 %'),
('pit_wall_displacement', 'near_metro', '{
  "cumulative": {"warning": 16, "alarm": 20, "clear": 14},
  "rate":       {"warning": 1.6, "alarm": 2, "clear": 1}}',
 'next to a metro line: 20 mm and 2 mm/day'),
('settlement', 'standard', '{
  "cumulative": {"type": "cumulative", "baseline": 0, "warning": 16, "alarm": 20, "clear": 14},
  "rate":       {"type": "rate", "days": 2, "warning": 2.4, "alarm": 3, "clear": 1.5}}',
 'ground settlement 20 mm (GB 50497-2019 typical plan); rate as for the wall'),
('settlement', 'near_metro', '{
  "cumulative": {"warning": 12, "alarm": 15, "clear": 10},
  "rate":       {"warning": 1.6, "alarm": 2, "clear": 1}}', 'local choice'),
('deep_displacement', 'standard', '{
  "cumulative": {"type": "cumulative", "baseline": 0, "warning": 32, "alarm": 40, "clear": 28},
  "rate":       {"type": "rate", "days": 2, "warning": 2.4, "alarm": 3, "clear": 1.5}}',
 'deep displacement 40 mm (GB 50497-2019 typical plan)'),
('deep_displacement', 'near_metro', '{
  "cumulative": {"warning": 20, "alarm": 25, "clear": 18},
  "rate":       {"warning": 1.6, "alarm": 2, "clear": 1}}', 'local choice'),
('strut_force', 'standard', '{
  "force": {"type": "threshold", "percent_of": null, "warning": 60, "alarm": 70, "clear": 55}}',
 '70 % of the design force (GB 50497-2019 typical plan); set percent_of to the design force in kN'),
('tilt', 'standard', '{
  "level": {"type": "threshold", "abs": true, "warning": 3, "alarm": 4, "clear": 2.5}}',
 '4 ‰ (tower crane verticality, GB 5144) is a local choice'),
('crane_load_moment', 'standard', '{
  "level": {"type": "threshold", "warning": 90, "alarm": 100, "clear": 85}}',
 'load-moment limiter: 90 % warning, 100 % cut-off'),
('wind_speed', 'standard', '{
  "level": {"type": "threshold", "warning": 8.0, "alarm": 10.8, "clear": 7.0}}',
 'level 6 (10.8 m/s) stops crane operation; level 5 (8.0 m/s) warns'),
('water_level', 'standard', '{
  "cumulative": {"type": "cumulative", "baseline": 0, "warning": 0.8, "alarm": 1.0, "clear": 0.6},
  "rate":       {"type": "rate", "days": 1, "warning": 0.4, "alarm": 0.5, "clear": 0.3}}',
 'groundwater change 1000 mm or 500 mm/day is a local choice');

-- -- registry ------------------------------------------------------------------------------------

CREATE SEQUENCE sitewatch.sensor_id_seq;

CREATE TABLE sitewatch.sensor (
    id              bigint PRIMARY KEY DEFAULT nextval('sitewatch.sensor_id_seq'),
    project_id      bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    code            text NOT NULL CHECK (code ~ '^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$'),  -- an MQTT topic level
    name            text,
    kind            text NOT NULL REFERENCES sitewatch.sensor_kind (kind),
    unit            text NOT NULL,
    location        geometry(PointZ, 4490) NOT NULL,
    hazardous_work  text CHECK (hazardous_work IN ('excavation', 'formwork', 'lifting', 'scaffolding',
                        'demolition', 'tunnelling', 'curtain_wall', 'steel_structure', 'manual_piles',
                        'other')),
    profile         text NOT NULL DEFAULT 'standard',
    rules           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(rules) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, code)
);
CREATE INDEX sensor_location_idx ON sitewatch.sensor USING gist (location);

CREATE TABLE sitewatch.project_sensor_rules (
    project_id  bigint NOT NULL REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    kind        text NOT NULL REFERENCES sitewatch.sensor_kind (kind),
    rules       jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, kind)
);

-- Bumped (transactionally) by every change that alters how a topic maps to a sensor and its rules;
-- ingest workers compare it with their cache at the start of each batch.
CREATE TABLE sitewatch.sensor_registry (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL
);
INSERT INTO sitewatch.sensor_registry VALUES (true, 1);

CREATE FUNCTION sitewatch.bump_sensor_registry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sitewatch.sensor_registry SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER sensor_registry_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON sitewatch.sensor FOR EACH STATEMENT EXECUTE FUNCTION sitewatch.bump_sensor_registry();
CREATE TRIGGER sensor_registry_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON sitewatch.project_sensor_rules FOR EACH STATEMENT EXECUTE FUNCTION sitewatch.bump_sensor_registry();
CREATE TRIGGER sensor_registry_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON sitewatch.sensor_rule_default FOR EACH STATEMENT EXECUTE FUNCTION sitewatch.bump_sensor_registry();
CREATE TRIGGER sensor_registry_bump AFTER UPDATE OF code ON sitewatch.project
    FOR EACH STATEMENT EXECUTE FUNCTION sitewatch.bump_sensor_registry();

-- Deep merge of JSON objects: b wins; objects merge key by key.
CREATE FUNCTION sitewatch.jsonb_merge(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN a IS NULL THEN b
        WHEN b IS NULL THEN a
        WHEN jsonb_typeof(a) = 'object' AND jsonb_typeof(b) = 'object' THEN (
            SELECT coalesce(jsonb_object_agg(k, CASE WHEN a ? k AND b ? k
                                                     THEN sitewatch.jsonb_merge(a -> k, b -> k)
                                                     WHEN b ? k THEN b -> k ELSE a -> k END), '{}'::jsonb)
            FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys (k))
        ELSE b END
$$;

-- Effective rules: kind default, profile delta, project override, sensor override.
CREATE VIEW sitewatch.sensor_effective AS
SELECT s.id, s.project_id, p.code AS project_code, p.district_code, s.code, s.kind, s.unit,
       s.profile,
       jsonb_strip_nulls(sitewatch.jsonb_merge(sitewatch.jsonb_merge(sitewatch.jsonb_merge(
           d.rules, dp.rules), pr.rules), s.rules)) AS rules
FROM sitewatch.sensor s
JOIN sitewatch.project p ON p.id = s.project_id
JOIN sitewatch.sensor_rule_default d ON d.kind = s.kind AND d.profile = 'standard'
LEFT JOIN sitewatch.sensor_rule_default dp
       ON dp.kind = s.kind AND dp.profile = s.profile AND s.profile <> 'standard'
LEFT JOIN sitewatch.project_sensor_rules pr ON pr.project_id = s.project_id AND pr.kind = s.kind;

-- -- readings ------------------------------------------------------------------------------------

CREATE TABLE sitewatch.reading (
    sensor_id    bigint NOT NULL,
    ts           timestamptz NOT NULL,
    value        double precision NOT NULL,
    seq          bigint,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, ts)
) PARTITION BY RANGE (ts);

-- One partition per UTC month, named reading_YYYY_MM; safe to call concurrently.
CREATE FUNCTION sitewatch.ensure_reading_partition(month date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    lo   date := date_trunc('month', month)::date;
    name text := format('reading_%s', to_char(lo, 'YYYY_MM'));
BEGIN
    IF to_regclass(format('sitewatch.%I', name)) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('sitewatch.reading partitions'));
        IF to_regclass(format('sitewatch.%I', name)) IS NULL THEN
            EXECUTE format('CREATE TABLE sitewatch.%I PARTITION OF sitewatch.reading '
                           'FOR VALUES FROM (%L) TO (%L)', name,
                           lo::text || ' 00:00:00+00', (lo + interval '1 month')::date::text || ' 00:00:00+00');
        END IF;
    END IF;
    RETURN name;
END $$;

SELECT sitewatch.ensure_reading_partition((date_trunc('month', now() AT TIME ZONE 'UTC')
                                           + make_interval(months => m))::date)
FROM generate_series(-1, 3) AS m;

CREATE FUNCTION sitewatch.truncate_readings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE sitewatch.reading;
    RETURN NULL;
END $$;
CREATE TRIGGER sensor_truncate_readings AFTER TRUNCATE ON sitewatch.sensor
    FOR EACH STATEMENT EXECUTE FUNCTION sitewatch.truncate_readings();

CREATE TABLE sitewatch.dead_letter (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL CHECK (source IN ('mqtt', 'http')),
    topic        text,
    reason       text NOT NULL,
    detail       text,
    payload      bytea NOT NULL
);
CREATE INDEX dead_letter_received_idx ON sitewatch.dead_letter (received_at);

-- -- rule state and alarms -------------------------------------------------------------------------

CREATE SEQUENCE sitewatch.sensor_state_version_seq;

-- What the rule engine remembers per sensor; rolling windows are rebuilt from readings whenever
-- the cached version differs (another writer evaluated the sensor in between).
CREATE TABLE sitewatch.sensor_state (
    sensor_id      bigint PRIMARY KEY REFERENCES sitewatch.sensor (id) ON DELETE CASCADE,
    last_ts        timestamptz,
    last_value     double precision,
    level          text NOT NULL DEFAULT 'normal' CHECK (level IN ('normal', 'warning', 'alarm')),
    open_alarm_id  bigint,
    rule_state     jsonb NOT NULL DEFAULT '{}'::jsonb,
    version        bigint NOT NULL DEFAULT nextval('sitewatch.sensor_state_version_seq'),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION sitewatch.create_sensor_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sitewatch.sensor_state (sensor_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER sensor_create_state AFTER INSERT ON sitewatch.sensor
    FOR EACH ROW EXECUTE FUNCTION sitewatch.create_sensor_state();

CREATE TABLE sitewatch.alarm (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sensor_id        bigint NOT NULL REFERENCES sitewatch.sensor (id) ON DELETE CASCADE,
    rule             text NOT NULL,                 -- the rule whose crossing opened it
    level            text NOT NULL CHECK (level IN ('warning', 'alarm')),   -- highest reached
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'closed')),
    opened_at        timestamptz NOT NULL,          -- time of the reading that crossed
    opened_value     double precision,
    threshold        double precision,
    peak_value       double precision,
    escalated_at     timestamptz,
    acknowledged_at  timestamptz,
    acknowledged_by  bigint REFERENCES sitewatch.api_token (id) ON DELETE SET NULL,
    ack_note         text,
    closed_at        timestamptz,                   -- time of the reading back below clear
    closed_value     double precision,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- One episode, one alarm: never a second open alarm for a sensor.
CREATE UNIQUE INDEX alarm_one_open_per_sensor ON sitewatch.alarm (sensor_id) WHERE state <> 'closed';
CREATE INDEX alarm_opened_idx ON sitewatch.alarm (opened_at);
CREATE INDEX alarm_closed_idx ON sitewatch.alarm (closed_at);

CREATE TABLE sitewatch.alarm_transition (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id    bigint NOT NULL REFERENCES sitewatch.alarm (id) ON DELETE CASCADE,
    event       text NOT NULL CHECK (event IN ('opened', 'escalated', 'acknowledged', 'closed')),
    level       text,
    rule        text,
    reading_ts  timestamptz,
    value       double precision,
    actor       text NOT NULL,                      -- 'rule-engine' or 'token:<id>'
    token_id    bigint REFERENCES sitewatch.api_token (id) ON DELETE SET NULL,
    note        text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX alarm_transition_alarm_idx ON sitewatch.alarm_transition (alarm_id);

CREATE FUNCTION sitewatch.level_rank(level text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE level WHEN 'alarm' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END
$$;

-- -- notifications -------------------------------------------------------------------------------

-- Endpoints per project, district and role.  routing 'scope': every event in its scope;
-- routing 'rule': only what a notification_rule sends to its role (e.g. another department).
-- Codes, not foreign keys: reloading the ledger must not wipe the notification set-up.
CREATE TABLE sitewatch.webhook (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    url            text NOT NULL CHECK (url ~ '^https?://'),
    secret         text NOT NULL CHECK (length(secret) >= 16),
    role           text NOT NULL,                   -- supervisor, contractor, bureau, environment, ...
    routing        text NOT NULL DEFAULT 'scope' CHECK (routing IN ('scope', 'rule')),
    project_code   text,                            -- NULL: any project
    district_code  text CHECK (district_code ~ '^[0-9]{6}$'),   -- NULL: any district
    min_level      text NOT NULL DEFAULT 'warning' CHECK (min_level IN ('warning', 'alarm')),
    kinds          text[],                          -- NULL: every kind
    events         text[] NOT NULL DEFAULT '{opened,escalated,closed}'
                       CHECK (events <@ ARRAY['opened', 'escalated', 'acknowledged', 'closed']),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Places that make an alarm matter to another department.
CREATE TABLE sitewatch.poi (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name      text NOT NULL,
    category  text NOT NULL,                        -- school, hospital, kindergarten, ...
    geom      geometry(Geometry, 4490) NOT NULL,
    source    text
);
CREATE INDEX poi_geog_idx ON sitewatch.poi USING gist ((geom::geography));
CREATE INDEX project_livelihood_geog_idx ON sitewatch.project USING gist ((footprint::geography))
    WHERE key_livelihood IN ('school', 'hospital');

CREATE VIEW sitewatch.sensitive_place AS
SELECT 'poi:' || id AS place, name, category, geom, NULL::bigint AS project_id FROM sitewatch.poi
UNION ALL
SELECT 'project:' || code, name, key_livelihood, footprint, id FROM sitewatch.project
WHERE key_livelihood IN ('school', 'hospital');

-- Cross-department rules are data: which alarms, near which places, go to which role.
CREATE TABLE sitewatch.notification_rule (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    kinds             text[] NOT NULL,
    min_level         text NOT NULL DEFAULT 'alarm' CHECK (min_level IN ('warning', 'alarm')),
    events            text[] NOT NULL DEFAULT '{opened,escalated}',
    place_categories  text[] NOT NULL,
    distance_m        double precision NOT NULL CHECK (distance_m > 0),
    notify_role       text NOT NULL,
    active            boolean NOT NULL DEFAULT true
);
INSERT INTO sitewatch.notification_rule (name, kinds, min_level, events, place_categories, distance_m,
                                         notify_role)
VALUES ('dust_noise_near_school_hospital', '{pm10,pm25,tsp,noise}', 'alarm', '{opened,escalated,closed}',
        '{school,hospital}', 500, 'environment');

CREATE TABLE sitewatch.outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       bigint NOT NULL REFERENCES sitewatch.webhook (id) ON DELETE CASCADE,
    alarm_id         bigint NOT NULL REFERENCES sitewatch.alarm (id) ON DELETE CASCADE,
    event            text NOT NULL,
    route            text NOT NULL,                 -- 'scope' or 'rule:<name>'
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (webhook_id, alarm_id, event)
);
CREATE INDEX outbox_due_idx ON sitewatch.outbox (next_attempt_at) WHERE status = 'pending';

-- -- feature views (OGC collections sensors and alarms) --------------------------------------------

-- True when a rule with local "from"/"to" hours applies at the instant (always without them).
CREATE FUNCTION sitewatch.rule_active_at(r jsonb, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN NOT (r ? 'from' AND r ? 'to') THEN true
        WHEN (r ->> 'from')::time <= (r ->> 'to')::time THEN
            local_t >= (r ->> 'from')::time AND local_t < (r ->> 'to')::time
        ELSE local_t >= (r ->> 'from')::time OR local_t < (r ->> 'to')::time END
    FROM (SELECT (at AT TIME ZONE coalesce(r ->> 'timezone', 'Asia/Shanghai'))::time AS local_t) AS l
$$;

CREATE VIEW sitewatch.sensor_feature AS
SELECT s.id, s.code, s.name, s.kind, e.project_code, e.district_code, s.unit, s.hazardous_work,
       s.profile, st.last_value AS value, st.last_ts AS ts,
       CASE WHEN st.last_ts IS NULL THEN 'no_data' ELSE st.level END AS state,
       st.open_alarm_id, r.name AS threshold_rule,
       (r.rule ->> 'warning')::double precision AS warning_threshold,
       (r.rule ->> 'alarm')::double precision AS alarm_threshold,
       (r.rule ->> 'clear')::double precision AS clear_threshold,
       s.location
FROM sitewatch.sensor s
JOIN sitewatch.sensor_effective e ON e.id = s.id
JOIN sitewatch.sensor_kind k ON k.kind = s.kind
LEFT JOIN sitewatch.sensor_state st ON st.sensor_id = s.id
LEFT JOIN LATERAL (
    SELECT n.name, e.rules -> n.name AS rule
    FROM unnest(k.display_rules) WITH ORDINALITY AS n (name, i)
    WHERE e.rules ? n.name AND sitewatch.rule_active_at(e.rules -> n.name, now())
    ORDER BY n.i LIMIT 1) AS r ON true;

-- Open alarms and those closed in the last 30 days.
CREATE VIEW sitewatch.alarm_feature AS
SELECT a.id, a.sensor_id, s.code AS sensor_code, s.kind AS sensor_kind, p.code AS project_code,
       p.district_code, a.state, a.level, a.rule, a.opened_at, a.opened_value, a.threshold,
       a.peak_value, a.escalated_at, a.acknowledged_at, a.closed_at, s.location
FROM sitewatch.alarm a
JOIN sitewatch.sensor s ON s.id = a.sensor_id
JOIN sitewatch.project p ON p.id = s.project_id
WHERE a.state <> 'closed' OR a.closed_at >= now() - interval '30 days';
