"""Settings of the web service, from ``SITEWATCH_*`` environment variables.

Built inside ``create_app`` or the CLI and passed down; never instantiated at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from spatial.settings import DatabaseSettings


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 5000
    # The URL clients use to reach us (links in OGC documents); default http://host:port.
    public_url: str | None = None
    data: Path = Field(default=Path("var"))
    default_limit: int = Field(default=10, ge=1)
    max_limit: int = Field(default=10000, ge=1)
    max_upload_mb: int = Field(default=500, ge=1)
    workers: int | None = None   # gunicorn workers; default from the core count
    threads: int | None = None   # gunicorn threads per worker

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def run_dir(self) -> Path:
        return self.data.expanduser().resolve() / "run"

    def worker_layout(self) -> tuple[int, int]:
        """(workers, threads) sized to the machine: I/O-bound on PostgreSQL, so threads help."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return self.workers or max(2, cores + 1), self.threads or 4


@dataclass
class Settings:
    app: AppSettings = field(default_factory=AppSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
