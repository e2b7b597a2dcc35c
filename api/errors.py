"""The one exception hierarchy clients see, and the handlers that render it.

Every error is JSON in the OGC exception shape ``{"code", "type", "description"}`` with the
right status, on ``/ogc`` and ``/api`` alike.  Tracebacks are logged for 5xx only.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from spatial import errors as spatial_errors

logger = logging.getLogger(__name__)


class APIError(Exception):
    http_status_code = 500
    ogc_exception_code = "NoApplicableCode"

    def __init__(self, description: str, *, extra: dict | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.extra = extra or {}
        self.headers = headers or {}


class InvalidParameterValue(APIError):
    http_status_code = 400
    ogc_exception_code = "InvalidParameterValue"


class InvalidRequest(APIError):
    http_status_code = 400
    ogc_exception_code = "InvalidRequest"


class Unauthorized(APIError):
    http_status_code = 401
    ogc_exception_code = "Unauthorized"

    def __init__(self, description: str = "a bearer token is required") -> None:
        super().__init__(description, headers={"WWW-Authenticate": 'Bearer realm="sitewatch"'})


class Forbidden(APIError):
    http_status_code = 403
    ogc_exception_code = "Forbidden"


class NotFound(APIError):
    http_status_code = 404
    ogc_exception_code = "NotFound"


class NotAcceptable(APIError):
    http_status_code = 406
    ogc_exception_code = "NotAcceptable"


class Conflict(APIError):
    http_status_code = 409
    ogc_exception_code = "Conflict"


class PayloadTooLarge(APIError):
    http_status_code = 413
    ogc_exception_code = "PayloadTooLarge"


class UnprocessableEntity(APIError):
    http_status_code = 422
    ogc_exception_code = "InvalidRequest"


class ServiceUnavailable(APIError):
    http_status_code = 503
    ogc_exception_code = "ServiceUnavailable"


def exception_response(status: int, code: str, description: str, *, extra: dict | None = None,
                       headers: dict | None = None) -> Response:
    body = {"code": code, "type": code, "description": description, **(extra or {})}
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(exc: APIError) -> Response:
        if exc.http_status_code >= 500:
            logger.exception("server error: %s", exc.description)
        return exception_response(exc.http_status_code, exc.ogc_exception_code, exc.description,
                                  extra=exc.extra, headers=exc.headers)

    @app.errorhandler(spatial_errors.InvalidQuery)
    def _invalid_query(exc: spatial_errors.InvalidQuery) -> Response:
        return exception_response(400, "InvalidParameterValue", str(exc))

    @app.errorhandler(spatial_errors.ValidationFailed)
    def _validation(exc: spatial_errors.ValidationFailed) -> Response:
        return exception_response(422, "InvalidRequest", str(exc), extra={"errors": exc.errors})

    @app.errorhandler(spatial_errors.NotFound)
    def _not_found(exc: spatial_errors.NotFound) -> Response:
        return exception_response(404, "NotFound", str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = {400: "InvalidRequest", 404: "NotFound", 405: "MethodNotAllowed",
                413: "PayloadTooLarge"}.get(exc.code or 500, "NoApplicableCode")
        return exception_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return exception_response(500, "NoApplicableCode", "internal server error")
