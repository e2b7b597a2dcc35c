"""Errors the BIM layer raises on purpose; ``api.errors`` renders them (422 for a rejected file)."""

from __future__ import annotations

from spatial.errors import SpatialError, ValidationFailed


class InvalidIfc(ValidationFailed):
    """The file is not an IFC model SiteWatch can read (empty, not STEP, truncated, schema)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, [{"row": 0, "field": "file", "reason": reason}])
        self.reason = reason


class FileTooLarge(SpatialError):
    """The upload is over the configured size limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class ParseFailed(SpatialError, RuntimeError):
    """The parse of a stored model failed; the message is the reason stored on the model."""
