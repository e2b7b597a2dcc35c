"""Typed settings for the storage layer, read from ``SITEWATCH_*`` environment variables.

Instances are built by the CLI or ``api.create_app`` and passed down; nothing is created at import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Where the database lives.

    ``database_url`` set: use that server and never start one.  Unset: run the private cluster
    under ``data/pg``.
    """

    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="ignore")

    database_url: str | None = None
    data: Path = Field(default=Path("var"))
    pool_min_size: int = 1
    pool_max_size: int = 8
    # The private cluster listens only on a Unix socket; this number names the socket file.
    pg_port: int = 5432
    # System user that runs the private cluster when SiteWatch runs as root.
    pg_system_user: str = "sitewatch"

    @property
    def data_dir(self) -> Path:
        return self.data.expanduser().resolve()

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"
