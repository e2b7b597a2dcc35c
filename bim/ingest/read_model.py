"""Models as the API shows them: one model, or a project's versions."""

from __future__ import annotations

import json

import psycopg

from spatial.errors import NotFound

__all__ = ["get_model", "list_models"]

_FIELDS = (
    "'id', m.id, 'project_code', p.code, 'version', m.version, 'sha256', m.sha256,"
    " 'file_name', m.file_name, 'file_size', m.file_size, 'status', m.status,"
    " 'reason', m.failure_reason, 'warnings', m.warnings, 'schema', m.ifc_schema,"
    " 'georef_method', m.georef_method, 'mesh_sha256', m.mesh_sha256,"
    " 'created_at', m.created_at, 'started_at', m.started_at, 'finished_at', m.finished_at,"
    " 'job', (SELECT json_build_object('id', j.id, 'status', j.status, 'attempts', j.attempts)"
    "  FROM sitewatch.job j WHERE j.kind = 'ifc_parse'"
    "  AND (j.payload->>'model_id')::bigint = m.id ORDER BY j.id DESC LIMIT 1)"
)


def get_model(conn: psycopg.Connection, model_id: int) -> dict:
    """Status, reason, warnings, summary, georef and origin of one model."""
    row = conn.execute(
        "SELECT json_build_object(" + _FIELDS + ", 'summary', m.summary, 'georef', m.georef,"
        " 'origin', ST_AsGeoJSON(m.origin, 8)::json)::text FROM sitewatch.bim_model m"
        " JOIN sitewatch.project p ON p.id = m.project_id WHERE m.id = %s",
        (model_id,)).fetchone()
    if row is None:
        raise NotFound(f"model {model_id} not found")
    return json.loads(row[0])


def list_models(conn: psycopg.Connection, project_code: str) -> list[dict]:
    """Every version of a project's models, newest first (without the summaries)."""
    if conn.execute("SELECT 1 FROM sitewatch.project WHERE code = %s",
                    (project_code,)).fetchone() is None:
        raise NotFound(f"project {project_code!r} not found")
    rows = conn.execute(
        "SELECT json_build_object(" + _FIELDS + ", 'elements', (m.summary->>'elements')::int)::text"
        " FROM sitewatch.bim_model m JOIN sitewatch.project p ON p.id = m.project_id"
        " WHERE p.code = %s ORDER BY m.version DESC", (project_code,)).fetchall()
    return [json.loads(r[0]) for r in rows]
