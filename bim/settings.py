"""Settings of IFC ingest, from ``SITEWATCH_IFC_*`` environment variables.

Built by the app factory or the CLI and passed down; nothing is created at import time.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWATCH_IFC_", extra="ignore")

    # The parse child's address-space ceiling (RLIMIT_AS) and wall-clock limit.
    memory_limit_mb: int = Field(default=4096, ge=64)
    timeout_s: float = Field(default=600.0, gt=0)
    # Largest file accepted by the library (the HTTP limit is SITEWATCH_MAX_UPLOAD_MB).
    max_file_mb: int = Field(default=500, ge=1)
    # A model whose outline is farther than this from its project's footprint gets a warning.
    suspect_distance_m: float = Field(default=200.0, ge=0)
    # Geometry kernel threads (default 1: with ifcopenshell 0.9 two were never faster; see
    # bim/geometry/iterate_shapes.py).
    threads: int | None = Field(default=None, ge=1)
    # Parses running at once across the whole instance (each may use memory_limit_mb).
    max_parallel: int = Field(default=1, ge=1, le=64)
    # Start the background worker thread inside the web app.
    worker: bool = True
    # Seconds between queue polls when no notification arrives.
    poll_s: float = Field(default=5.0, gt=0)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024


class ProgressSettings(BaseSettings):
    """``SITEWATCH_PROGRESS_*``: the web app's progress refresher (bim.progress.refresher)."""

    model_config = SettingsConfigDict(env_prefix="SITEWATCH_PROGRESS_", extra="ignore")

    # Keep each project's PV/EV/SPI/card snapshot current inside the web app.
    refresher: bool = True
    # Also refresh stale snapshots (new models; every scheduled project on a new day, running
    # the month-end cards), at start and every 30 s.
    daily: bool = True
    # Seconds to let a burst of reports gather before a project is refreshed.
    delay_s: float = Field(default=1.0, ge=0)
