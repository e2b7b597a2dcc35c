"""OGC API Tiles documents (tilesets list, tileset metadata, tile matrix sets) as plain dicts.

``base`` is the URL of the OGC API root (``…/ogc``) or, for raster layers, of the layer; every
``href`` is absolute.  The templated tile link uses the standard's variable names
(``{tileMatrix}/{tileRow}/{tileCol}``); deck.gl and MapLibre read the same template with
``{z}/{y}/{x}``.
"""

from __future__ import annotations

from spatial.collections import Collection
from tiles import tms
from tiles.vector import MVT, OVERVIEW_PROPERTIES, field_types

__all__ = ["TILESETS_VECTOR", "raster_description", "raster_tileset", "tile_matrix_sets",
           "tileset", "tilesets_list"]

JSON = "application/json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
GEODATA = "http://www.opengis.net/def/rel/ogc/1.0/geodata"
_DIMENSION = {"Point": 0, "MultiPoint": 0, "LineString": 1, "MultiLineString": 1,
              "Polygon": 2, "MultiPolygon": 2}


def _tms_summary(tms_id: str, data_type: str = "vector") -> dict:
    t = tms.get(tms_id)
    return {"dataType": data_type, "crs": str(t.crs.root), "tileMatrixSetURI": t.uri}


def tilesets_list(collection: Collection, base: str) -> dict:
    """``/collections/{id}/tiles``: one entry per tile matrix set."""
    here = f"{base}/collections/{collection.id}/tiles"
    return {
        "links": [
            {"rel": "self", "type": JSON, "title": "Tilesets of this collection", "href": here},
            {"rel": GEODATA, "type": JSON, "title": collection.title,
             "href": f"{base}/collections/{collection.id}"},
        ],
        "tilesets": [{
            "title": f"{collection.title} ({tms_id})",
            **_tms_summary(tms_id),
            "links": [
                {"rel": "self", "type": JSON, "title": f"{tms_id} tileset metadata",
                 "href": f"{here}/{tms_id}"},
                {"rel": TILING_SCHEME, "type": JSON, "title": f"{tms_id} definition",
                 "href": f"{base}/tileMatrixSets/{tms_id}"},
                {"rel": "item", "type": MVT, "title": "Tiles (Mapbox vector tiles)",
                 "href": tms.tile_uri_template(f"{here}/{tms_id}"), "templated": True},
            ],
        } for tms_id in tms.SUPPORTED],
    }


def _properties_schema(collection: Collection, detail_zoom: int) -> dict:
    overview = field_types(collection, detail=False)
    detail = field_types(collection, detail=True)
    props = {}
    for name, type_ in detail.items():
        prop = collection.property(name)
        entry: dict = {"type": type_, "title": prop.title if prop else "Feature id"}
        if prop and prop.format:
            entry["format"] = prop.format
        if prop and prop.enum:
            entry["enum"] = list(prop.enum)
        if name not in overview:
            entry["description"] = f"only in tiles of tile matrix {detail_zoom} and above"
        props[name] = entry
    return {"type": "object", "properties": props}


def tileset(collection: Collection, base: str, tms_id: str, *, detail_zoom: int,
            min_feature_units: float, max_features: int,
            bbox: list[float] | None = None) -> dict:
    """``/collections/{id}/tiles/{tms}``: tileset metadata with the vector layer's fields."""
    t = tms.get(tms_id)
    here = f"{base}/collections/{collection.id}/tiles/{tms_id}"
    overview = OVERVIEW_PROPERTIES.get(collection.id)
    description = (
        f"{collection.description}  Mapbox vector tiles, one layer named {collection.id!r}; at "
        f"most {max_features} features per tile.  A footprint smaller than {min_feature_units:g} "
        "tile units comes as its centroid (a point)."
    )
    if overview:
        description += (f"  Below tile matrix {detail_zoom} features carry only the properties "
                        "the map draws with; from it on, every scalar property.")
    layer: dict = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.title_zh,
        "dataType": "vector",
        "minTileMatrix": str(t.minzoom),
        "maxTileMatrix": str(t.maxzoom),
        "propertiesSchema": _properties_schema(collection, detail_zoom),
        "links": [{"rel": GEODATA, "type": JSON, "title": collection.title,
                   "href": f"{base}/collections/{collection.id}"}],
    }
    if collection.geometry_type in _DIMENSION:
        layer["geometryDimension"] = _DIMENSION[collection.geometry_type]
    doc: dict = {
        "title": f"{collection.title} ({tms_id})",
        "description": description,
        "keywords": list(collection.keywords),
        **_tms_summary(tms_id),
        "links": [
            {"rel": "self", "type": JSON, "title": "This tileset", "href": here},
            {"rel": TILING_SCHEME, "type": JSON, "title": f"{tms_id} definition",
             "href": f"{base}/tileMatrixSets/{tms_id}"},
            {"rel": "item", "type": MVT, "title": "Tiles (Mapbox vector tiles)",
             "href": tms.tile_uri_template(here), "templated": True},
            {"rel": GEODATA, "type": JSON, "title": collection.title,
             "href": f"{base}/collections/{collection.id}"},
        ],
        "layers": [layer],
    }
    if bbox:
        doc["boundingBox"] = {"lowerLeft": bbox[:2], "upperRight": bbox[2:], "crs": CRS84}
    return doc


def tile_matrix_sets(base: str) -> dict:
    """``/tileMatrixSets``: the sets offered, each linking to its definition."""
    out = []
    for tms_id in tms.SUPPORTED:
        t = tms.get(tms_id)
        out.append({"id": tms_id, "title": t.title, "uri": t.uri, "crs": str(t.crs.root),
                    "links": [{"rel": TILING_SCHEME, "type": JSON, "title": f"{tms_id} definition",
                               "href": f"{base}/tileMatrixSets/{tms_id}"}]})
    return {"links": [{"rel": "self", "type": JSON, "title": "Tile matrix sets",
                       "href": f"{base}/tileMatrixSets"}],
            "tileMatrixSets": out}


def raster_description(layer, base: str, ogc_base: str) -> dict:
    """``/api/v1/rasters/{id}``: what the layer is and where its tiles are.

    ``layer`` is a :class:`tiles.raster.RasterLayer`; ``base`` the URL of ``/api/v1/rasters``.
    """
    here = f"{base}/{layer.id}"
    lo, hi = layer.zoom_range()
    return {
        "id": layer.id,
        "project_code": layer.project_code,
        "kind": layer.kind,
        "title": layer.title,
        "crs": layer.crs,
        "resolution": layer.resolution,
        "size": [layer.width, layer.height],
        "bands": layer.band_count,
        "dtype": layer.dtype,
        "value_range": ([layer.min_value, layer.max_value]
                        if layer.min_value is not None else None),
        "captured_on": layer.captured_on.isoformat() if layer.captured_on else None,
        "bbox": list(layer.bounds),
        "min_zoom": lo,
        "max_zoom": hi,
        "tiles": tms.tile_uri_template(f"{here}/tiles/WebMercatorQuad") + ".png",
        "links": [
            {"rel": "self", "type": JSON, "href": here},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map", "type": JSON,
             "href": f"{here}/tiles"},
            {"rel": "related", "type": "application/geo+json", "title": "The project",
             "href": f"{ogc_base}/collections/projects/items/{layer.project_code}"},
        ],
    }


def raster_tileset(layer, base: str, ogc_base: str, tms_id: str) -> dict:
    """``/api/v1/rasters/{id}/tiles/{tms}``: tileset metadata of a raster layer (PNG map tiles),
    with ``tileMatrixSetLimits`` (tiles outside them are 404)."""
    here = f"{base}/{layer.id}/tiles/{tms_id}"
    lo, hi = layer.zoom_range()
    return {
        "title": layer.title or f"{layer.kind} of {layer.project_code}",
        **_tms_summary(tms_id, "map"),
        "tileMatrixSetLimits": tms.tile_limits(tms_id, layer.bounds, lo, hi),
        "boundingBox": {"lowerLeft": list(layer.bounds[:2]), "upperRight": list(layer.bounds[2:]),
                        "crs": CRS84},
        "links": [
            {"rel": "self", "type": JSON, "href": here},
            {"rel": TILING_SCHEME, "type": JSON, "title": f"{tms_id} definition",
             "href": f"{ogc_base}/tileMatrixSets/{tms_id}"},
            {"rel": "item", "type": "image/png", "title": "Tiles (PNG, transparent without data)",
             "href": tms.tile_uri_template(here) + ".png", "templated": True},
            {"rel": "describedby", "type": JSON, "href": f"{base}/{layer.id}"},
        ],
    }
