"""API tokens: created once, stored only as a SHA-256 hash, looked up by hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import psycopg

ROLES = ("admin", "supervisor", "enterprise", "gateway")
PREFIX = "sw_"


@dataclass(frozen=True)
class Token:
    id: int
    role: str
    scope: str | None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def create(conn: psycopg.Connection, *, role: str, scope: str | None = None,
           label: str | None = None) -> str:
    """Store a new token's hash and return the token (the only time it is visible)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute(
            "INSERT INTO sitewatch.api_token (token_hash, role, scope, label) VALUES (%s, %s, %s, %s)",
            (_digest(token), role, scope, label),
        )
    return token


def lookup(conn: psycopg.Connection, token: str) -> Token | None:
    row = conn.execute(
        "SELECT id, role, scope FROM sitewatch.api_token WHERE token_hash = %s AND revoked_at IS NULL",
        (_digest(token),),
    ).fetchone()
    return Token(*row) if row else None


def revoke(conn: psycopg.Connection, token_id: int) -> bool:
    with conn.transaction():
        cur = conn.execute(
            "UPDATE sitewatch.api_token SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
            (token_id,),
        )
    return cur.rowcount == 1
