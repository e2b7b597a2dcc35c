"""Settings of the map page, from ``SITEWATCH_*`` environment variables.

Built by ``api.viewer`` when the app is created and passed down; never at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ViewerSettings(BaseSettings):
    """The basemap and the live refresh of the map page.

    ``basemap_url`` is an XYZ raster template with ``{x}``, ``{y}``, ``{z}`` (``{-y}`` for TMS),
    e.g. an intranet tile server or Tianditu with its token in the URL.  Empty: no basemap at
    all; district boundaries and names are drawn from our own data.  ``basemap_crs`` says which
    datum the tiles are drawn in: ``wgs84`` and ``cgcs2000`` (Tianditu) need no shift, ``gcj02``
    (AMap, Tencent) makes the page shift our layers for display only.
    """

    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="ignore")

    basemap_url: str = ""
    basemap_crs: Literal["wgs84", "cgcs2000", "gcj02"] = "wgs84"
    basemap_attribution: str = ""
    basemap_max_zoom: int = Field(default=18, ge=1, le=22)
    sensor_refresh_seconds: float = Field(default=5.0, gt=0.5, le=600)

    @field_validator("basemap_url")
    @classmethod
    def _template(cls, value: str) -> str:
        value = value.strip()
        if value and not all(k in value for k in ("{x}", "{z}")):
            raise ValueError("SITEWATCH_BASEMAP_URL must contain {x}, {y} (or {-y}) and {z}")
        return value

    @property
    def shift_gcj02(self) -> bool:
        return bool(self.basemap_url) and self.basemap_crs == "gcj02"
