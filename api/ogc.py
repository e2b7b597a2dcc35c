"""OGC API at ``/ogc``: pygeoapi mounted in our app, with our own JSON items endpoints.

pygeoapi serves the landing page, conformance, OpenAPI, collection metadata, queryables and every
HTML page.  The two hot endpoints, ``/collections/{id}/items`` and ``/items/{featureId}`` in
GeoJSON, are answered here straight from ``spatial.features``: the FeatureCollection is written
by PostGIS and only wrapped here, which is what makes the service faster than its peers.  Both
paths read the same collection definitions, so HTML and JSON agree.

Behaviour that pygeoapi 0.21 lacks and the endpoints below add: 400 for an unknown query
parameter, ``bbox-crs`` in the authority's axis order, CRS transforms in SQL, ``next`` links that
keep every parameter and the effective limit, and ``Content-Crs`` on every GeoJSON response.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import Flask, Response, current_app, request

from api import ogc_config
from api.errors import InvalidParameterValue, NotFound
from api.settings import AppSettings
from spatial import cql, features, ogc_provider
from spatial.collections import COLLECTIONS, Collection
from spatial.crs import CRS84, parse_crs

logger = logging.getLogger(__name__)

GEOJSON = "application/geo+json"
RESERVED = frozenset({
    "f", "lang", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "filter",
    "filter-lang", "filter-crs", "sortby", "properties", "skipGeometry",
})
ITEM_PARAMS = frozenset({"f", "lang", "crs"})

def _wants_json() -> bool:
    """True for GeoJSON/JSON; False when pygeoapi should render (HTML, JSON-LD)."""
    f = request.args.get("f")
    if f is not None:
        if f in ("json", "geojson"):
            return True
        if f in ("html", "jsonld"):
            return False
        raise InvalidParameterValue(f"unsupported format f={f!r} (json, geojson, html, jsonld)")
    best = request.accept_mimetypes.best_match([GEOJSON, "application/json", "text/html"],
                                               default=GEOJSON)
    return best != "text/html"


def _check_params(allowed: frozenset[str] | set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise InvalidParameterValue(f"unknown query parameter(s): {', '.join(unknown)}")


def _int(name: str, default: int, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidParameterValue(f"{name} must be an integer: {raw!r}") from exc
    if value < minimum:
        raise InvalidParameterValue(f"{name} must be at least {minimum}")
    return value


def _bool(name: str) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise InvalidParameterValue(f"{name} must be true or false")
    return raw.lower() == "true"


def parse_items_request(coll: Collection, settings: AppSettings) -> features.ItemsQuery:
    """Validate the query string of an items request into an ItemsQuery."""
    _check_params(RESERVED | coll.queryables.keys())
    args = request.args
    limit = min(_int("limit", settings.default_limit, 1), settings.max_limit)
    bbox = features.parse_bbox(args["bbox"]) if "bbox" in args else None
    if "bbox-crs" in args and bbox is None:
        raise InvalidParameterValue("bbox-crs given without bbox")
    filter_node = None
    if "filter" in args:
        filter_node = cql.parse(args["filter"], args.get("filter-lang"))
    elif "filter-lang" in args:
        cql.parse("TRUE", args["filter-lang"])  # validates the language name
    return features.ItemsQuery(
        limit=limit,
        offset=_int("offset", 0, 0),
        bbox=bbox,
        bbox_crs=parse_crs(args.get("bbox-crs"), parameter="bbox-crs"),
        crs=parse_crs(args.get("crs")),
        **features.parse_datetime_for(coll, args.get("datetime")),
        filter=filter_node,
        filter_crs=parse_crs(args.get("filter-crs"), parameter="filter-crs"),
        sortby=features.parse_sortby(args["sortby"], coll) if "sortby" in args else (),
        properties=(features.parse_properties(args["properties"], coll)
                    if "properties" in args else None),
        skip_geometry=_bool("skipGeometry"),
        equals=tuple((k, v) for k, v in args.items() if k in coll.queryables),
    )


def _url(path: str, params: dict[str, str]) -> str:
    base = current_app.config["SITEWATCH_SETTINGS"].app.base_url
    query = urlencode(params, safe=",:/")
    return f"{base}/ogc{path}" + (f"?{query}" if query else "")


def _items_links(coll: Collection, q: features.ItemsQuery, page: features.ItemsPage) -> list[dict]:
    path = f"/collections/{coll.id}/items"
    params = {k: v for k, v in request.args.items() if k not in ("f", "offset", "limit")}
    params["limit"] = str(q.limit)  # the effective limit, also when the client sent none
    here = {**params, "offset": str(q.offset)} if q.offset else dict(params)
    links = [
        {"rel": "self", "type": GEOJSON, "title": "This document",
         "href": _url(path, {"f": "json", **here})},
        {"rel": "alternate", "type": "text/html", "title": "This document as HTML",
         "href": _url(path, {"f": "html", **here})},
        {"rel": "collection", "type": "application/json", "title": coll.title,
         "href": _url(f"/collections/{coll.id}", {"f": "json"})},
    ]
    if q.offset + page.number_returned < page.number_matched and page.number_returned:
        links.append({"rel": "next", "type": GEOJSON, "title": "Next page",
                      "href": _url(path, {"f": "json", **params,
                                          "offset": str(q.offset + q.limit)})})
    if q.offset > 0:
        prev = {**params}
        if q.offset - q.limit > 0:
            prev["offset"] = str(q.offset - q.limit)
        links.append({"rel": "prev", "type": GEOJSON, "title": "Previous page",
                      "href": _url(path, {"f": "json", **prev})})
    return links


def _geojson_response(body: str, crs_uri: str) -> Response:
    response = Response(body, mimetype=GEOJSON)
    response.headers["Content-Crs"] = f"<{crs_uri}>"
    return response


def items(coll: Collection) -> Response:
    settings = current_app.config["SITEWATCH_SETTINGS"].app
    q = parse_items_request(coll, settings)
    with current_app.extensions["sitewatch_pool"].connection() as conn:
        page = features.query_items(conn, coll, q)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    tail = json.dumps({
        "numberMatched": page.number_matched,
        "numberReturned": page.number_returned,
        "timeStamp": stamp,
        "links": _items_links(coll, q, page),
    }, ensure_ascii=False)
    body = f'{{"type":"FeatureCollection","features":[{page.features}],{tail[1:]}'
    return _geojson_response(body, q.crs.uri)


def item(coll: Collection, feature_id: str) -> Response:
    _check_params(_allowed_params("collection_items", coll, {"item_id": feature_id}))
    crs = parse_crs(request.args.get("crs"))
    status_date = None
    if coll.status is not None and "datetime" in request.args:
        status_date = features.parse_datetime_for(coll, request.args["datetime"]).get("status_date")
    with current_app.extensions["sitewatch_pool"].connection() as conn:
        text = features.get_item(conn, coll, feature_id, crs=crs, status_date=status_date)
    if text is None:
        raise NotFound(f"feature {feature_id!r} not found in {coll.id}")
    path = f"/collections/{coll.id}/items/{feature_id}"
    links = [
        {"rel": "self", "type": GEOJSON, "title": "This document",
         "href": _url(path, {"f": "json", **({"crs": crs.uri} if crs.uri != CRS84 else {})})},
        {"rel": "alternate", "type": "text/html", "title": "This document as HTML",
         "href": _url(path, {"f": "html"})},
        {"rel": "collection", "type": "application/json", "title": coll.title,
         "href": _url(f"/collections/{coll.id}", {"f": "json"})},
    ]
    body = text[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False) + "}"
    return _geojson_response(body, crs.uri)


def mount(app: Flask, settings: AppSettings, extents: dict[str, dict] | None = None) -> None:
    """Generate pygeoapi's files, then register our endpoints and pygeoapi's blueprint at /ogc."""
    config_path, openapi_path, config = ogc_config.write(settings, extents)
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    from pygeoapi import flask_app  # reads the two variables at first import
    from pygeoapi.api import API
    from pygeoapi.openapi import load_openapi_document

    # A second app in the same process (tests) gets its own configuration too.
    flask_app.CONFIG = config
    flask_app.OPENAPI = load_openapi_document()
    flask_app.api_ = API(config, flask_app.OPENAPI)
    ogc_provider.configure(app.extensions["sitewatch_pool"])
    _declare_conformance()

    app.register_blueprint(flask_app.BLUEPRINT, url_prefix="/ogc")
    # pygeoapi's <path:> rules outrank any rule of ours for the same URLs, so we wrap its views:
    # JSON for our collections is answered here, everything else goes on to pygeoapi.
    _wrap(app, "pygeoapi.collection_items", _items_view)
    _wrap(app, "pygeoapi.collection_queryables", _queryables_view)


FEATURES_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
]


# OGC API Tiles, as api/tiles.py implements it for every collection (MVT, WebMercatorQuad).
TILES_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]


def _declare_conformance() -> None:
    """What our feature collections conform to, for pygeoapi's /conformance (JSON and HTML).

    pygeoapi 0.21 claims Part 4 (create/replace/delete), which /ogc does not offer (writes go
    through /api/v1 with a token), and none of Part 3's filter classes, which we implement.
    """
    from pygeoapi.api import itemtypes

    itemtypes.CONFORMANCE_CLASSES_FEATURES[:] = FEATURES_CONFORMANCE + TILES_CONFORMANCE


def take_over(app: Flask, endpoint: str, ours) -> None:
    """Like :func:`_wrap`, but nothing goes on to pygeoapi: ``ours`` answers every request to
    pygeoapi's ``endpoint`` in every format, and an unknown collection is our 404.  For the tile
    endpoints, which pygeoapi could only serve from a tile provider we do not configure."""
    def view(collection_id: str, **kwargs):
        coll = COLLECTIONS.get(collection_id)
        if coll is None:
            raise NotFound(f"collection {collection_id!r} not found")
        return ours(coll, **kwargs)

    app.view_functions[endpoint] = view


def _wrap(app: Flask, endpoint: str, ours) -> None:
    pygeoapi_view = app.view_functions[endpoint]

    def view(collection_id: str, **kwargs):
        coll = COLLECTIONS.get(collection_id)
        if coll is not None and request.method == "GET":
            if _wants_json():
                return ours(coll, **kwargs)
            _check_params(_allowed_params(endpoint, coll, kwargs))  # HTML is strict too
        return pygeoapi_view(collection_id, **kwargs)

    app.view_functions[endpoint] = view


def _allowed_params(endpoint: str, coll: Collection, kwargs: dict) -> frozenset[str]:
    if endpoint.endswith("collection_items"):
        if kwargs.get("item_id"):
            return ITEM_PARAMS | ({"datetime"} if coll.status else set())
        return RESERVED | coll.queryables.keys()
    return frozenset({"f", "lang"})


def _items_view(coll: Collection, item_id: str | None = None) -> Response:
    return items(coll) if item_id is None else item(coll, item_id)


def _queryables_view(coll: Collection) -> Response:
    """JSON Schema of what ``filter``, ``sortby`` and property=value accept (Part 3)."""
    _check_params(frozenset({"f", "lang"}))
    props: dict = {"geometry": {"format": f"geometry-{coll.geometry_type.lower()}",
                                "x-ogc-role": "primary-geometry"}}
    for name, prop in coll.queryables.items():
        props[name] = {**prop.schema, "description": prop.title_zh}
        if f"t.{name}" == coll.id_sql:
            props[name]["x-ogc-role"] = "id"
    body = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": _url(f"/collections/{coll.id}/queryables", {}),
        "type": "object",
        "title": coll.title,
        "properties": props,
        "additionalProperties": False,
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/schema+json")
