"""Errors raised by the spatial layer; ``api.errors`` maps them to HTTP responses."""

from __future__ import annotations


class SpatialError(Exception):
    """Base class for errors the spatial layer raises on purpose."""


class InvalidQuery(SpatialError, ValueError):
    """A query parameter (bbox, crs, filter, sortby, ...) that cannot be honoured."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class NotFound(SpatialError, LookupError):
    """The requested feature or record does not exist."""


class ClusterError(SpatialError, RuntimeError):
    """The private PostgreSQL cluster could not be started, stopped or reached."""


class ValidationFailed(SpatialError, ValueError):
    """Input rows were rejected; ``errors`` lists each problem with its row number."""

    def __init__(self, message: str, errors: list[dict]) -> None:
        super().__init__(message)
        self.errors = errors
