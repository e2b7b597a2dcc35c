"""Local OpenAPI components standing in for the remote ones pygeoapi references.

Written from the OGC API Features Part 1/2/3 and OGC API Tiles Part 1 requirements (schemas
simplified to what a client needs to validate our responses).  ``local_ref`` maps a remote
``$ref`` to its local name.  The tile endpoints' parameters, responses and paths are generated
from the tile matrix sets and collections in ``api/ogc_config.py``; their documents' schemas are
here.
"""

from __future__ import annotations

_JSON = "application/json"
_GEOJSON = "application/geo+json"

_LINK = {
    "type": "object",
    "required": ["href"],
    "properties": {
        "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
        "hreflang": {"type": "string"}, "title": {"type": "string"},
        "length": {"type": "integer"},
    },
}
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/link"}}

SCHEMAS = {
    "anyObject": {"type": "object"},
    "link": _LINK,
    "exception": {
        "type": "object",
        "required": ["code"],
        "properties": {"code": {"type": "string"}, "type": {"type": "string"},
                       "description": {"type": "string"}},
    },
    "landingPage": {
        "type": "object", "required": ["links"],
        "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                       "links": _LINKS},
    },
    "extent": {
        "type": "object",
        "properties": {
            "spatial": {"type": "object", "properties": {
                "bbox": {"type": "array", "minItems": 1, "items": {
                    "type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
                "crs": {"type": "string"}}},
            "temporal": {"type": "object", "properties": {
                "interval": {"type": "array", "items": {"type": "array", "minItems": 2,
                                                         "maxItems": 2, "items": {
                                                             "type": "string", "nullable": True}}},
                "trs": {"type": "string"}}},
        },
    },
    "collectionInfo": {
        "type": "object", "required": ["id", "links"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"},
            "description": {"type": "string"}, "links": _LINKS,
            "extent": {"$ref": "#/components/schemas/extent"},
            "itemType": {"type": "string"},
            "crs": {"type": "array", "items": {"type": "string"}},
            "storageCrs": {"type": "string"},
        },
    },
    "geometryGeoJSON": {
        "type": "object", "nullable": True, "required": ["type"],
        "properties": {"type": {"type": "string", "enum": [
            "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
            "GeometryCollection"]},
            "coordinates": {"type": "array"}},
    },
    "featureGeoJSON": {
        "type": "object", "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "geometry": {"$ref": "#/components/schemas/geometryGeoJSON"},
            "properties": {"type": "object", "nullable": True},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "links": _LINKS,
        },
    },
    "featureCollectionGeoJSON": {
        "type": "object", "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
            "links": _LINKS,
            "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
        },
    },
}


# OGC API Tiles Part 1 (17-083r4 TMS 2.0 for the tile matrix sets), as tiles/metadata.py writes them.
_STRINGS = {"type": "array", "items": {"type": "string"}}
_BBOX_2D = {
    "type": "object", "required": ["lowerLeft", "upperRight"],
    "properties": {
        "lowerLeft": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}},
        "upperRight": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}},
        "crs": {"type": "string"},
    },
}
_TILESET_PROPERTIES = {
    "title": {"type": "string"},
    "dataType": {"type": "string", "enum": ["map", "vector", "coverage"]},
    "crs": {"type": "string"}, "tileMatrixSetURI": {"type": "string"}, "links": _LINKS,
}
SCHEMAS.update({
    "tileSetItem": {"type": "object", "required": ["dataType", "crs", "links"],
                    "properties": _TILESET_PROPERTIES},
    "tileSetsList": {
        "type": "object", "required": ["tilesets"],
        "properties": {"links": _LINKS, "tilesets": {
            "type": "array", "items": {"$ref": "#/components/schemas/tileSetItem"}}},
    },
    "tileSetLayer": {
        "type": "object", "required": ["id", "dataType"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"},
            "description": {"type": "string"},
            "dataType": {"type": "string", "enum": ["map", "vector", "coverage"]},
            "geometryDimension": {"type": "integer", "minimum": 0, "maximum": 3},
            "minTileMatrix": {"type": "string"}, "maxTileMatrix": {"type": "string"},
            "propertiesSchema": {"type": "object"}, "links": _LINKS,
        },
    },
    "tileSet": {
        "type": "object", "required": ["dataType", "crs", "links"],
        "properties": {
            **_TILESET_PROPERTIES,
            "description": {"type": "string"}, "keywords": _STRINGS,
            "layers": {"type": "array", "items": {"$ref": "#/components/schemas/tileSetLayer"}},
            "boundingBox": _BBOX_2D,
            "tileMatrixSetLimits": {"type": "array", "items": {
                "type": "object",
                "required": ["tileMatrix", "minTileRow", "maxTileRow", "minTileCol", "maxTileCol"],
                "properties": {"tileMatrix": {"type": "string"},
                               "minTileRow": {"type": "integer", "minimum": 0},
                               "maxTileRow": {"type": "integer", "minimum": 0},
                               "minTileCol": {"type": "integer", "minimum": 0},
                               "maxTileCol": {"type": "integer", "minimum": 0}}}},
        },
    },
    "tileMatrixSetsList": {
        "type": "object", "required": ["tileMatrixSets"],
        "properties": {"links": _LINKS, "tileMatrixSets": {"type": "array", "items": {
            "type": "object", "required": ["links"],
            "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                           "uri": {"type": "string"}, "crs": {"type": "string"},
                           "links": _LINKS}}}},
    },
    "tileMatrixSet": {
        "type": "object", "required": ["crs", "tileMatrices"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "uri": {"type": "string"},
            "crs": {"type": "string"}, "orderedAxes": _STRINGS,
            "wellKnownScaleSet": {"type": "string"},
            "tileMatrices": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "scaleDenominator", "cellSize", "pointOfOrigin", "tileWidth",
                             "tileHeight", "matrixWidth", "matrixHeight"],
                "properties": {
                    "id": {"type": "string"}, "scaleDenominator": {"type": "number"},
                    "cellSize": {"type": "number"},
                    "cornerOfOrigin": {"type": "string", "enum": ["topLeft", "bottomLeft"]},
                    "pointOfOrigin": {"type": "array", "minItems": 2, "maxItems": 2,
                                      "items": {"type": "number"}},
                    "tileWidth": {"type": "integer", "minimum": 1},
                    "tileHeight": {"type": "integer", "minimum": 1},
                    "matrixWidth": {"type": "integer", "minimum": 1},
                    "matrixHeight": {"type": "integer", "minimum": 1}}}},
        },
    },
})


def _response(description: str, schema: str, media: str = _JSON) -> dict:
    return {"description": description,
            "content": {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}},
                        "text/html": {"schema": {"type": "string"}}}}


RESPONSES = {
    "LandingPage": _response("The landing page with links to the API definition, the "
                             "conformance declaration and the collections.", "landingPage"),
    "Collection": _response("Information about the feature collection.", "collectionInfo"),
    "Features": _response("The features of the collection (paged; follow rel=next).",
                          "featureCollectionGeoJSON", _GEOJSON),
    "Feature": _response("One feature.", "featureGeoJSON", _GEOJSON),
    "InvalidParameter": {"description": "A query parameter has an invalid value.",
                         "content": {_JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}},
    "NotFound": {"description": "The requested resource does not exist.",
                 "content": {_JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}},
    "ServerError": {"description": "A server error occurred.",
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}},
}

_STR = {"type": "string"}
PARAMETERS = {
    "datetime": {
        "name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
        "description": "An RFC 3339 instant or interval (open ends with '..'); features whose "
                       "planned period meets it are selected.",
        "schema": _STR,
    },
    "featureId": {"name": "featureId", "in": "path", "required": True,
                  "description": "Local identifier of a feature.", "schema": _STR},
    "sortby": {
        "name": "sortby", "in": "query", "required": False, "style": "form", "explode": False,
        "description": "Comma-separated property names, each optionally prefixed by + or -.",
        "schema": {"type": "array", "minItems": 1, "items": {
            "type": "string", "pattern": "[+|-]?[A-Za-z_].*"}},
    },
    "filter": {"name": "filter", "in": "query", "required": False, "style": "form",
               "explode": False, "description": "A CQL2 text or CQL2 JSON filter expression.",
               "schema": _STR},
    "filter-lang": {"name": "filter-lang", "in": "query", "required": False,
                    "description": "The language of the filter parameter.",
                    "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"],
                               "default": "cql2-text"}},
    "filter-crs": {"name": "filter-crs", "in": "query", "required": False,
                   "description": "CRS of geometry literals in the filter (default CRS84).",
                   "schema": {"type": "string", "format": "uri"}},
}

COMPONENTS = {"schemas": SCHEMAS, "responses": RESPONSES, "parameters": PARAMETERS}


def local_ref(url: str) -> str | None:
    """The local ``#/components/...`` reference standing in for a remote one, or None."""
    fragment = url.split("#", 1)[1] if "#" in url else ""
    if fragment.startswith("/components/"):
        _, _, section, name = fragment.split("/", 3)
        if name in COMPONENTS.get(section, {}):
            return f"#/components/{section}/{name}"
        if section == "schemas" and name == "link":
            return "#/components/schemas/link"
    tail = url.rsplit("/", 1)[-1]
    by_file = {
        "sortby.yaml": "#/components/parameters/sortby",
        "NotFound.yaml": "#/components/responses/NotFound",
        "exception.yaml": "#/components/schemas/exception",
    }
    return by_file.get(tail)
