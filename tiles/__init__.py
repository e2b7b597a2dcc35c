"""Vector (ST_AsMVT) and raster tiles with their tile matrix sets.

``tms``        WebMercatorQuad (morecantile), tile addresses and limits
``vector``     MVT of any collection in one prepared statement; ``changes``: exact ETags
``metadata``   OGC API Tiles documents (tilesets, tileset metadata, tile matrix sets)
``raster``     project rasters (orthophoto, DEM): registry and PNG tiles with rasterio
``render``     DEM colour ramp and hillshade, PNG encoding
``sample_rasters``  the sample city's generated COGs
"""
