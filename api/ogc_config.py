"""Generate pygeoapi's configuration and OpenAPI document from our settings.

Both files are written under ``$SITEWATCH_DATA/run/pygeoapi/`` on every start and never edited by
hand.  The OpenAPI document is pygeoapi's, made self-contained: pygeoapi points many ``$ref`` at
schemas.opengis.net, which an intranet client cannot fetch, so each remote reference is replaced
by a local component defined in ``api/openapi_components.py``.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import yaml

from api.openapi_components import COMPONENTS, local_ref
from api.settings import AppSettings
from spatial.collections import COLLECTIONS
from spatial.crs import CRS84, STORAGE_CRS, supported_uris
from tiles import tms
from tiles.vector import MVT

logger = logging.getLogger(__name__)

PROVIDER = "spatial.ogc_provider.SiteWatchProvider"
HANGZHOU_BBOX = [119.5, 29.8, 120.8, 30.6]


def _instant(value: Any) -> datetime | None:
    """A ledger date as the RFC 3339 instant pygeoapi's extent and datetime checks expect."""
    if isinstance(value, datetime):  # a timestamptz column (alarms): already an instant
        return value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=timezone.utc)
    return None


def build_config(settings: AppSettings, extents: dict[str, dict] | None = None) -> dict:
    """The pygeoapi configuration for our collections; ``extents`` come from the database."""
    resources: dict[str, Any] = {}
    for cid, coll in COLLECTIONS.items():
        ext = (extents or {}).get(cid) or {}
        spatial_ext: dict[str, Any] = {"bbox": ext.get("bbox") or HANGZHOU_BBOX, "crs": CRS84}
        extents_cfg: dict[str, Any] = {"spatial": spatial_ext}
        interval = ext.get("interval")
        if coll.temporal:
            extents_cfg["temporal"] = {
                "begin": _instant(interval[0]) if interval else None,
                "end": _instant(interval[1]) if interval else None,
            }
        resources[cid] = {
            "type": "collection",
            "title": {"en": coll.title, "zh": coll.title_zh},
            "description": {"en": coll.description, "zh": coll.title_zh},
            "keywords": list(coll.keywords),
            # OGC API Tiles (geodata-tilesets): api/tiles.py serves every collection as MVT.
            "links": [{"type": "application/json",
                       "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                       "title": "Vector tilesets (Mapbox vector tiles)",
                       "href": f"{settings.base_url}/ogc/collections/{cid}/tiles"}],
            "extents": extents_cfg,
            "limits": {"default_items": settings.default_limit, "max_items": settings.max_limit,
                       "on_exceed": "error"},
            "providers": [{
                "type": "feature",
                "name": PROVIDER,
                "data": cid,
                "id_field": "code",
                "title_field": "name",
                **({"time_field": coll.temporal[0].removeprefix("t.")} if coll.temporal else {}),
                "crs": supported_uris(),
                "storage_crs": STORAGE_CRS,
            }],
        }
    return {
        "server": {
            "bind": {"host": settings.host, "port": settings.port},
            "url": f"{settings.base_url}/ogc",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            # zh-CN would make pygeoapi 0.21 answer 500 to QGIS's "Accept-Language: en,*".
            "languages": ["en-US", "zh"],
            "gzip": False,
            "cors": False,  # CORS is applied to the whole app in create_app
            "pretty_print": False,
            "limits": {"default_items": settings.default_limit, "max_items": settings.max_limit,
                       "on_exceed": "error"},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "&copy; OpenStreetMap contributors"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": "SiteWatch construction supervision", "zh": "SiteWatch 工程建设监管"},
                "description": {
                    "en": "Construction projects, BIM progress and site sensors of the municipal "
                          "housing-and-construction bureau, as OGC API Features.",
                    "zh": "住建局在建工程项目、BIM 进度与工地监测数据（OGC API Features）。",
                },
                "keywords": {"en": ["construction", "supervision", "BIM", "OGC API"],
                             "zh": ["工程建设", "监管", "BIM"]},
                "keywords_type": "theme",
                "terms_of_service": f"{settings.base_url}/",
                "url": f"{settings.base_url}/",
            },
            "license": {"name": "Government open data terms of the bureau",
                        "url": f"{settings.base_url}/"},
            "provider": {"name": "SiteWatch", "url": f"{settings.base_url}/"},
            "contact": {"name": "SiteWatch operations", "position": "Operator",
                        "address": "", "city": "Hangzhou", "stateorprovince": "Zhejiang",
                        "postalcode": "", "country": "China", "phone": "", "fax": "",
                        "email": "", "url": f"{settings.base_url}/", "hours": "",
                        "instructions": "", "role": "pointOfContact"},
        },
        "resources": resources,
    }


def _localise(node: Any, missing: set[str]) -> Any:
    """Replace every remote ``$ref`` with its local component."""
    if isinstance(node, list):
        return [_localise(n, missing) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
            local = local_ref(value)
            if local is None:
                missing.add(value)
                local = "#/components/schemas/anyObject"
            out[key] = local
        else:
            out[key] = _localise(value, missing)
    return out


def _tune_parameters(doc: dict, settings: AppSettings) -> None:
    """limit's minimum/default/maximum and the Part 2 parameters on every items path."""
    params = doc["components"].setdefault("parameters", {})
    params["limit"] = {
        "name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
        "description": "The optional limit parameter limits the number of items in the response.",
        "schema": {"type": "integer", "minimum": 1, "maximum": settings.max_limit,
                   "default": settings.default_limit},
    }
    for path, item in doc.get("paths", {}).items():
        get = item.get("get")
        if not get or not path.endswith("/items"):
            continue
        names = {p.get("name") or p.get("$ref", "").rsplit("/", 1)[-1]
                 for p in get.get("parameters", [])}
        for name in ("limit", "crs", "bbox-crs", "filter", "filter-lang", "filter-crs", "sortby",
                     "properties", "skipGeometry", "datetime", "offset"):
            if name not in names:
                get.setdefault("parameters", []).append({"$ref": f"#/components/parameters/{name}"})
        coll = COLLECTIONS.get(path.split("/")[2]) if path.startswith("/collections/") else None
        kept = []
        for p in get["parameters"]:
            if p.get("name") == "limit":  # pygeoapi declares limit inline; use our bounded one
                p = {"$ref": "#/components/parameters/limit"}
            elif p.get("$ref", "").endswith("/vendorSpecificParameters"):
                continue  # we answer 400 to unknown parameters, so declare none free-form
            elif coll and p.get("in") == "query" and p.get("name") in {
                    q.name for q in coll.properties if not q.queryable}:
                continue
            kept.append(p)
        get["parameters"] = kept


# -- OGC API Tiles: api/tiles.py serves these for every collection and tile matrix set -------------

_ERRORS = {"400": {"$ref": "#/components/responses/InvalidParameter"},
           "404": {"$ref": "#/components/responses/NotFound"},
           "500": {"$ref": "#/components/responses/ServerError"}}


def _f(formats: tuple[str, ...]) -> dict:
    return {"name": "f", "in": "query", "required": False, "style": "form", "explode": False,
            "description": "The optional f parameter: the only format offered here.",
            "schema": {"type": "string", "enum": list(formats), "default": formats[0]}}


def _tile_components() -> dict:
    """Parameters, headers and responses of the tile endpoints, from the tile matrix sets."""
    sets = [tms.get(t) for t in tms.SUPPORTED]
    low, high = min(t.minzoom for t in sets), max(t.maxzoom for t in sets)
    rows = max(t.matrix(t.maxzoom).matrixHeight for t in sets)
    cols = max(t.matrix(t.maxzoom).matrixWidth for t in sets)

    def path_int(name: str, description: str, minimum: int, maximum: int) -> dict:
        return {"name": name, "in": "path", "required": True, "description": description,
                "schema": {"type": "integer", "minimum": minimum, "maximum": maximum}}

    headers = {
        "ETag": {"description": "Weak validator of the tile; send it back in If-None-Match.",
                 "schema": {"type": "string"}},
        "Cache-Control": {"description": "no-cache (revalidate every time) or public, max-age=N.",
                          "schema": {"type": "string"}},
    }
    cached = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}

    def json_response(description: str, schema: str) -> dict:
        return {"description": description,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}

    return {
        "parameters": {
            "tileMatrixSetId": {
                "name": "tileMatrixSetId", "in": "path", "required": True,
                "description": "Identifier of a tile matrix set (see /tileMatrixSets).",
                "schema": {"type": "string", "enum": list(tms.SUPPORTED)}},
            "tileMatrix": path_int("tileMatrix", "Tile matrix (zoom level) of the tile matrix set.",
                                   low, high),
            "tileRow": path_int("tileRow", "Row of the tile in its tile matrix (from the top); "
                                "below that matrix's matrixHeight.", 0, rows - 1),
            "tileCol": path_int("tileCol", "Column of the tile in its tile matrix (from the "
                                "left); below that matrix's matrixWidth.", 0, cols - 1),
            "ifNoneMatch": {"name": "If-None-Match", "in": "header", "required": False,
                            "description": "ETag of a copy the client holds: 304 while it is current.",
                            "schema": {"type": "string"}},
            "f-json": _f(("json",)),
            "f-mvt": _f(("mvt",)),
        },
        "headers": headers,
        "responses": {
            "TileSets": json_response("The tilesets of the collection, one per tile matrix set.",
                                      "tileSetsList"),
            "TileSet": json_response("Tileset metadata: layer, fields, tile matrix set, links.",
                                     "tileSet"),
            "TileMatrixSets": json_response("The tile matrix sets offered.", "tileMatrixSetsList"),
            "TileMatrixSet": json_response("The definition of a tile matrix set (OGC TMS 2.0).",
                                           "tileMatrixSet"),
            "VectorTile": {"description": "A Mapbox vector tile, one layer named after the collection.",
                           "headers": cached,
                           "content": {MVT: {"schema": {"type": "string", "format": "binary"}}}},
            "EmptyTile": {"description": "The tile holds no feature (no body).", "headers": cached},
            "NotModified": {"description": "The copy named by If-None-Match is current (no body).",
                            "headers": cached},
        },
    }


def _tile_paths(doc: dict) -> None:
    """The tile endpoints of every collection and the tile matrix sets, with their components."""
    for section, entries in _tile_components().items():
        doc["components"].setdefault(section, {}).update(entries)
    params = {name: {"$ref": f"#/components/parameters/{name}"} for name in (
        "tileMatrixSetId", "tileMatrix", "tileRow", "tileCol", "ifNoneMatch", "f-json", "f-mvt")}
    paths = doc.setdefault("paths", {})
    for cid, coll in COLLECTIONS.items():
        base = f"/collections/{cid}/tiles"
        op = f"{cid.title().replace('-', '')}Collection.vector"
        paths[base] = {"get": {
            "summary": f"The tilesets of {coll.title}",
            "description": f"One tileset per tile matrix set, each linking to its metadata, its "
                           f"tile matrix set and its tile URI template ({coll.title_zh}).",
            "tags": [cid], "operationId": f"get{op}.getTileSetsList",
            "parameters": [params["f-json"]],
            "responses": {"200": {"$ref": "#/components/responses/TileSets"}, **_ERRORS}}}
        paths[f"{base}/{{tileMatrixSetId}}"] = {"get": {
            "summary": f"Tileset metadata of {coll.title}",
            "description": f"The vector layer {cid!r}: its fields, zoom range, extent and tile "
                           "URI template.",
            "tags": [cid], "operationId": f"get{op}.getTileSet",
            "parameters": [params["tileMatrixSetId"], params["f-json"]],
            "responses": {"200": {"$ref": "#/components/responses/TileSet"}, **_ERRORS}}}
        paths[f"{base}/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"] = {"get": {
            "summary": f"A vector tile of {coll.title}",
            "description": f"Mapbox vector tile with one layer named {cid!r}, simplified by zoom; "
                           "204 when the tile holds no feature.  Every answer carries an ETag: "
                           "send it back in If-None-Match for a 304 while nothing changed.",
            "tags": [cid], "operationId": f"get{op}.getTile",
            "parameters": [params[n] for n in ("tileMatrixSetId", "tileMatrix", "tileRow",
                                               "tileCol", "f-mvt", "ifNoneMatch")],
            "responses": {"200": {"$ref": "#/components/responses/VectorTile"},
                          "204": {"$ref": "#/components/responses/EmptyTile"},
                          "304": {"$ref": "#/components/responses/NotModified"}, **_ERRORS}}}
    paths["/tileMatrixSets"] = {"get": {
        "summary": "The tile matrix sets offered", "tags": ["tiles"],
        "operationId": "getTileMatrixSetsList", "parameters": [params["f-json"]],
        "responses": {"200": {"$ref": "#/components/responses/TileMatrixSets"},
                      "400": _ERRORS["400"], "500": _ERRORS["500"]}}}
    paths["/tileMatrixSets/{tileMatrixSetId}"] = {"get": {
        "summary": "The definition of a tile matrix set", "tags": ["tiles"],
        "operationId": "getTileMatrixSet",
        "parameters": [params["tileMatrixSetId"], params["f-json"]],
        "responses": {"200": {"$ref": "#/components/responses/TileMatrixSet"}, **_ERRORS}}}


def build_openapi(config: dict, settings: AppSettings) -> dict:
    from pygeoapi.openapi import get_oas

    doc = get_oas(config, fail_on_invalid_collection=False)
    doc = json.loads(json.dumps(doc, default=str))
    components = doc.setdefault("components", {})
    for section, entries in COMPONENTS.items():
        components.setdefault(section, {}).update(entries)
    missing: set[str] = set()
    doc = _localise(doc, missing)
    if missing:
        logger.warning("remote OpenAPI references without a local component: %s", sorted(missing))
    _tune_parameters(doc, settings)
    _tile_paths(doc)
    return doc


def write(settings: AppSettings, extents: dict[str, dict] | None = None) -> tuple[Path, Path, dict]:
    """Write config + OpenAPI under the run folder; return their paths and the config."""
    folder = settings.run_dir / "pygeoapi"
    folder.mkdir(parents=True, exist_ok=True)
    config = build_config(settings, extents)
    config_path = folder / "pygeoapi-config.yml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                           encoding="utf-8")
    openapi_path = folder / "openapi.json"
    doc = build_openapi(config, settings)
    openapi_path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return config_path, openapi_path, config
