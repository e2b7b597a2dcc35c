-- 0003: what the OGC collection bim-elements reads, and lookups the IFC ingest needs.

-- One feature per element of every parsed model version.  The feature id is model id + ':' +
-- GlobalId, because a GlobalId recurs across versions of a model.
CREATE VIEW sitewatch.bim_element_feature AS
SELECT
    e.model_id::text || ':' || e.global_id       AS id,
    e.global_id,
    e.ifc_class,
    e.storey,
    e.model_id,
    m.version                                    AS model_version,
    p.code                                       AS project_code,
    e.name,
    e.predefined_type,
    e.type_name,
    e.material,
    e.bottom_elevation,
    e.top_elevation,
    (e.quantities->>'volume')::double precision  AS volume,
    (e.quantities->>'area')::double precision    AS area,
    e.quantity_source,
    m.version = (SELECT max(l.version) FROM sitewatch.bim_model l
                 WHERE l.project_id = m.project_id AND l.status = 'done') AS latest,
    e.footprint
FROM sitewatch.bim_element e
JOIN sitewatch.bim_model m ON m.id = e.model_id
JOIN sitewatch.project p ON p.id = m.project_id;

-- /items/{model_id}:{GlobalId} looks elements up by the same expression as the view's id.
CREATE INDEX bim_element_feature_id_idx
    ON sitewatch.bim_element ((model_id::text || ':' || global_id));

-- Jobs of one model (latest job of a model, stale-job recovery).
CREATE INDEX job_model_idx ON sitewatch.job (((payload->>'model_id')::bigint))
    WHERE kind = 'ifc_parse';
CREATE INDEX job_running_idx ON sitewatch.job (kind) WHERE status = 'running';
