"""Bearer-token checks for write endpoints: 401 without a valid token, 403 without the right."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request

from api.errors import Forbidden, Unauthorized
from spatial import tokens


def current_token() -> tokens.Token:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("an Authorization: Bearer token is required")
    with current_app.extensions["sitewatch_pool"].connection() as conn:
        token = tokens.lookup(conn, value.strip())
    if token is None:
        raise Unauthorized("the bearer token is not valid")
    return token


def require(*roles: str) -> Callable:
    """Decorator: the request needs a token whose role is one of ``roles``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = current_token()
            if token.role not in roles:
                raise Forbidden(f"role {token.role!r} may not do this (needs {' or '.join(roles)})")
            g.token = token
            return view(*args, **kwargs)

        return wrapper

    return decorator
