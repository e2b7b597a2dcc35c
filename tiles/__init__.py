"""Vector (ST_AsMVT) and raster tiles with their tile matrix sets."""
