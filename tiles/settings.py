"""Tile settings, from ``SITEWATCH_TILES_*`` environment variables.

Built by ``api.tiles.init_app`` (inside ``create_app``) or by a caller, and passed down.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TileSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWATCH_TILES_", extra="ignore")

    # Vector tiles (MVT).
    extent: int = Field(default=4096, ge=256)          # tile units per side
    buffer: int = Field(default=64, ge=0)              # clip margin in tile units
    max_features: int = Field(default=10_000, ge=1)    # per tile and layer (TiPG's default)
    detail_zoom: int = Field(default=14, ge=0)         # from here on, every scalar property
    # A footprint whose bounding box is smaller than this many tile units (16 = 2 px on a 512 px
    # tile) would be a speck or vanish in quantisation: it is sent as its centroid instead.
    min_feature_units: float = Field(default=16.0, ge=0)
    # Cache-Control max-age of tiles.  0 means "no-cache": clients keep the tile and revalidate
    # it every time, and the 304 answer costs one index lookup, so a tile is never stale.
    max_age: int = Field(default=0, ge=0)

    # Raster tiles (PNG, 256 px as WebMercatorQuad defines them).
    raster_max_age: int = Field(default=0, ge=0)
