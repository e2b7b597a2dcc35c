-- 0005: 4D schedules as features: the view behind the OGC collection `schedule-tasks`.
--
-- A task's geometry is the union of the footprints of every element linked to it (outputs and
-- inputs), NULL only when no linked element has a footprint.  It is kept in task.footprint (so a
-- bbox filter or a vector tile uses a GiST index instead of unioning every task on each request)
-- and triggers keep it right whoever writes: links added or removed (task_element), elements
-- re-placed (bim_element.footprint updated, e.g. a manual georeferencing) or deleted.
-- Dates are timestamptz; planned_start_day / planned_finish_day are the same instants as calendar
-- days in Asia/Shanghai, which is what the OGC `datetime` parameter compares (as for the ledger).

ALTER TABLE sitewatch.task ADD COLUMN footprint geometry(MultiPolygon, 4490);
CREATE INDEX task_footprint_idx ON sitewatch.task USING gist (footprint);
-- Feature ids are text (the OGC path segment); this index serves /items/{featureId}.
CREATE INDEX task_feature_id_idx ON sitewatch.task ((id::text));
CREATE INDEX schedule_model_idx ON sitewatch.schedule (model_id);

CREATE FUNCTION sitewatch.refresh_task_footprints(task_ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE sitewatch.task t SET footprint = u.geom
    FROM (
        SELECT x.id,
               (SELECT ST_Multi(ST_CollectionExtract(ST_Union(e.footprint), 3))
                FROM sitewatch.task_element te
                JOIN sitewatch.bim_element e ON e.id = te.element_id
                WHERE te.task_id = x.id) AS geom
        FROM (SELECT DISTINCT unnest(task_ids) AS id) x
    ) u
    WHERE t.id = u.id AND t.footprint IS DISTINCT FROM u.geom;
$$;

CREATE FUNCTION sitewatch.task_element_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM sitewatch.refresh_task_footprints(ARRAY(SELECT DISTINCT task_id FROM new_rows));
    ELSE
        PERFORM sitewatch.refresh_task_footprints(ARRAY(SELECT DISTINCT task_id FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_element_insert_footprint AFTER INSERT ON sitewatch.task_element
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION sitewatch.task_element_changed();
CREATE TRIGGER task_element_delete_footprint AFTER DELETE ON sitewatch.task_element
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION sitewatch.task_element_changed();

CREATE FUNCTION sitewatch.element_footprint_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sitewatch.refresh_task_footprints(ARRAY(
        SELECT DISTINCT te.task_id
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        JOIN sitewatch.task_element te ON te.element_id = n.id
        WHERE n.footprint IS DISTINCT FROM o.footprint));
    RETURN NULL;
END
$$;

CREATE TRIGGER bim_element_footprint_tasks AFTER UPDATE ON sitewatch.bim_element
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION sitewatch.element_footprint_changed();

CREATE VIEW sitewatch.schedule_task_feature AS
SELECT
    t.id,
    t.id::text                    AS feature_id,
    t.identification              AS task_id,
    t.name,
    t.planned_start,
    t.planned_finish,
    (t.planned_start AT TIME ZONE 'Asia/Shanghai')::date  AS planned_start_day,
    (t.planned_finish AT TIME ZONE 'Asia/Shanghai')::date AS planned_finish_day,
    t.baseline_start,
    t.baseline_finish,
    t.duration_days,
    t.date_source,
    t.is_milestone,
    EXISTS (SELECT 1 FROM sitewatch.task c WHERE c.parent_id = t.id) AS is_summary,
    t.parent_id::text             AS parent_id,
    parent.identification         AS parent_task_id,
    s.id                          AS schedule_id,
    s.name                        AS schedule_name,
    s.purpose                     AS schedule_purpose,
    s.source                      AS schedule_source,
    s.model_id,
    p.code                        AS project_code,
    (SELECT count(DISTINCT te.element_id)::integer
     FROM sitewatch.task_element te WHERE te.task_id = t.id) AS element_count,
    t.footprint                   AS geometry
FROM sitewatch.task t
JOIN sitewatch.schedule s ON s.id = t.schedule_id
JOIN sitewatch.bim_model m ON m.id = s.model_id
JOIN sitewatch.project p ON p.id = m.project_id
LEFT JOIN sitewatch.task parent ON parent.id = t.parent_id;

COMMENT ON VIEW sitewatch.schedule_task_feature IS
    'OGC collection schedule-tasks: tasks with the union of their linked elements'' footprints';
