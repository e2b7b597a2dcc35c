"""Small request helpers every blueprint uses."""

from __future__ import annotations

from flask import current_app, request
from psycopg_pool import ConnectionPool

from api.errors import InvalidRequest


def pool() -> ConnectionPool:
    """The app's connection pool (autocommit connections; see spatial.db.create_pool)."""
    return current_app.extensions["sitewatch_pool"]


def json_body() -> object:
    """The request's JSON body, or a 400 that says what is wrong."""
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidRequest("the body must be JSON (Content-Type: application/json)")
    return body
