"""Tiles over HTTP: OGC API Tiles (MVT) for every collection and PNG tiles of raster layers.

* ``/ogc/collections/{id}/tiles``, ``…/tiles/WebMercatorQuad`` and
  ``…/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}``: pygeoapi routes these URLs (its
  ``<path:>`` rules outrank ours), so :func:`api.ogc.take_over` wraps its three views and our
  collections are answered here, in every format; ``/ogc/tileMatrixSets[/{id}]`` are ours.
* ``/api/v1/rasters?project=CODE``, ``/api/v1/rasters/{id}`` and
  ``/api/v1/rasters/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}.png``: site orthophotos and DEMs.

A tile without features is ``204 No Content``: OGC API Tiles allows it or an empty tile, an
empty MVT is zero bytes anyway, and 204 tells a client (MapLibre, OpenLayers, deck.gl) and the
logs in so many words that there is nothing to parse.  It carries an ETag like any tile.

Caching: every tile has a weak ETag and ``Cache-Control`` (``no-cache`` by default, so clients
revalidate; the 304 is answered from the sources' change counter without rendering anything).

Speed: a plain tile request (no query string, no ``Origin``) is answered by a small WSGI
middleware in front of Flask (:class:`_TileFastPath`), the statement runs without BEGIN/COMMIT on
a pooled connection, and the MVT bytes PostGIS wrote are the response body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from http import HTTPStatus

from flask import Blueprint, Flask, Response, current_app, request

from api import ogc
from api.common import pool as _pool
from api.errors import InvalidParameterValue, NotFound
from spatial import features
from spatial.collections import COLLECTIONS, Collection
from tiles import changes, metadata, raster, tms, vector
from tiles.settings import TileSettings

logger = logging.getLogger(__name__)

bp = Blueprint("tiles", __name__)

JSON = "application/json"
RASTER_RENDER_VERSION = "1"   # bump when raster rendering changes: part of the raster ETags


@dataclass
class _State:
    settings: TileSettings
    layers: dict[str, vector.Layer] = field(default_factory=dict)
    bboxes: dict[tuple[str, int], list[float] | None] = field(default_factory=dict)


def _state() -> _State:
    return current_app.extensions["sitewatch_tiles"]


def _base() -> str:
    return current_app.config["SITEWATCH_SETTINGS"].app.base_url


def _files_root():
    return raster.files_root_of(current_app.config["SITEWATCH_SETTINGS"].app.data)


def init_app(app: Flask) -> None:
    """Prepare a tile layer per collection, take over pygeoapi's tile views, add our routes."""
    settings = TileSettings()
    state = _State(settings)
    with app.extensions["sitewatch_pool"].connection() as conn:
        for cid, coll in COLLECTIONS.items():
            try:
                state.layers[cid] = vector.build_layer(conn, coll, settings)
            except Exception:  # one broken collection must not take the others down
                logger.exception("no vector tiles for collection %s", cid)
                conn.rollback()
    app.extensions["sitewatch_tiles"] = state
    ogc.take_over(app, "pygeoapi.get_collection_tiles", _tilesets_view)
    ogc.take_over(app, "pygeoapi.get_collection_tiles_metadata", _tileset_view)
    ogc.take_over(app, "pygeoapi.get_collection_tiles_data", _tile_view)
    app.register_blueprint(bp)
    app.wsgi_app = _TileFastPath(app, app.wsgi_app)  # type: ignore[method-assign]


# -- helpers ---------------------------------------------------------------------------------------

def _check_params(allowed: frozenset[str], formats: tuple[str, ...] = ("json",)) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise InvalidParameterValue(f"unknown query parameter(s): {', '.join(unknown)}")
    f = request.args.get("f")
    if f is not None and f not in formats:
        raise InvalidParameterValue(f"unsupported format f={f!r} ({', '.join(formats)})")


def _json(body: dict) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), mimetype=JSON)


def _cache_control(max_age: int) -> str:
    return f"public, max-age={max_age}" if max_age else "no-cache"


def _layer(coll: Collection) -> vector.Layer:
    layer = _state().layers.get(coll.id)
    if layer is None:
        raise NotFound(f"collection {coll.id!r} has no tiles")
    return layer


# -- OGC API Tiles (vector) ------------------------------------------------------------------------

def _tilesets_view(coll: Collection) -> Response:
    _check_params(frozenset({"f"}))
    _layer(coll)
    return _json(metadata.tilesets_list(coll, f"{_base()}/ogc"))


def _bbox(layer: vector.Layer) -> list[float] | None:
    """The collection's extent (CRS84), cached per change version when its sources are tracked."""
    cache = _state().bboxes
    key: tuple[str, int] | None = None
    with _pool().connection() as conn:
        if layer.tracked:
            row = conn.execute("SELECT coalesce(sum(n), 0)::int8 FROM sitewatch.tile_change "
                               "WHERE table_name = ANY(%s)", (list(layer.sources),)).fetchone()
            key = (layer.id, int(row[0])) if row else None
            if key in cache:
                return cache[key]
        bbox = features.extent(conn, layer.collection)["bbox"]
    if key is not None:
        cache[key] = bbox
    return bbox


def _tileset_view(coll: Collection, tileMatrixSetId: str) -> Response:
    _check_params(frozenset({"f"}))
    tms.get(tileMatrixSetId)
    layer = _layer(coll)
    s = layer.settings
    return _json(metadata.tileset(coll, f"{_base()}/ogc", tileMatrixSetId,
                                  detail_zoom=s.detail_zoom, min_feature_units=s.min_feature_units,
                                  max_features=s.max_features, bbox=_bbox(layer)))


def _render(pool, layer: vector.Layer, tile: tms.TileAddress,
            if_none_match: str | None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a tile: 200 MVT, 204 without features, 304 when current."""
    with pool.connection() as conn:
        # One statement, no BEGIN/COMMIT around it (two round trips, as long as a small tile).
        # The app's pool hands out autocommit connections already; any other pool gets its
        # connection back as it lent it.
        previous = conn.autocommit
        conn.autocommit = True
        try:
            vt = vector.render(conn, layer, tile, if_none_match=if_none_match)
        finally:
            if not conn.closed and conn.autocommit != previous:
                conn.autocommit = previous
    headers = {"ETag": vt.etag, "Cache-Control": _cache_control(layer.settings.max_age)}
    if vt.data is None or changes.matches(if_none_match, vt.etag):
        return 304, headers, b""
    if not vt.data:
        return 204, headers, b""
    return 200, {**headers, "Content-Type": vector.MVT}, vt.data


def _tile_view(coll: Collection, tileMatrixSetId: str, tileMatrix: str, tileRow: str,
               tileCol: str) -> Response:
    _check_params(frozenset({"f"}), formats=("mvt",))
    tile = tms.parse_tile(tileMatrixSetId, tileMatrix, tileRow, tileCol)
    status, headers, body = _render(_pool(), _layer(coll), tile,
                                    request.headers.get("If-None-Match"))
    response = Response(body, status=status, headers=headers)
    if status != 200:
        del response.headers["Content-Type"]
    return response


class _TileFastPath:
    """WSGI middleware: plain tile requests go straight to :func:`_render`.

    A map asks for tiles by the hundred; Flask's URL matching over pygeoapi's rules, request
    context and after-request hooks cost more than a small tile's SQL.  A ``GET`` of
    ``/ogc/collections/{id}/tiles/{tms}/{z}/{y}/{x}`` without a query string and without an
    ``Origin`` header (cross-origin requests need flask-cors) is answered here; anything else,
    and anything invalid or failing, goes on to Flask, which answers it (errors included) the
    normal way.  Both paths share :func:`_render`, so the bytes and headers are the same.
    """

    _PATH = re.compile(r"/ogc/collections/([^/]+)/tiles/([^/]+)/(\d{1,2})/(\d{1,9})/(\d{1,9})")

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if (environ.get("REQUEST_METHOD") == "GET" and not environ.get("QUERY_STRING")
                and "HTTP_ORIGIN" not in environ):
            match = self._PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match:
                answer = self._answer(match, environ)
                if answer is not None:
                    status, headers, body = answer
                    headers["Content-Length"] = str(len(body))
                    start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
                    return [body]
        return self.wsgi_app(environ, start_response)

    def _answer(self, match: re.Match, environ) -> tuple[int, dict[str, str], bytes] | None:
        state = self.app.extensions["sitewatch_tiles"]
        layer = state.layers.get(match.group(1))
        if layer is None:
            return None
        try:
            tile = tms.parse_tile(match.group(2), match.group(3), match.group(4), match.group(5))
            return _render(self.app.extensions["sitewatch_pool"], layer, tile,
                           environ.get("HTTP_IF_NONE_MATCH"))
        except Exception:  # Flask answers it, with the proper error document
            logger.debug("tile fast path declined %s", environ.get("PATH_INFO"), exc_info=True)
            return None


@bp.get("/ogc/tileMatrixSets")
def tile_matrix_sets() -> Response:
    _check_params(frozenset({"f"}))
    return _json(metadata.tile_matrix_sets(f"{_base()}/ogc"))


@bp.get("/ogc/tileMatrixSets/<tms_id>")
def tile_matrix_set(tms_id: str) -> Response:
    _check_params(frozenset({"f"}))
    return _json(tms.document(tms_id))


# -- raster layers ---------------------------------------------------------------------------------

def _raster(raster_id: int) -> raster.RasterLayer:
    with _pool().connection() as conn:
        return raster.get(conn, raster_id, _files_root())


def _rasters_base() -> str:
    return f"{_base()}/api/v1/rasters"


@bp.get("/api/v1/rasters")
def list_rasters() -> Response:
    """Raster layers, all or of one project (``?project=CODE``)."""
    _check_params(frozenset({"project"}))
    with _pool().connection() as conn:
        layers = raster.list_layers(conn, _files_root(), project_code=request.args.get("project"))
    base = _rasters_base()
    return _json({"rasters": [metadata.raster_description(layer, base, f"{_base()}/ogc")
                              for layer in layers]})


@bp.get("/api/v1/rasters/<int:raster_id>")
def describe_raster(raster_id: int) -> Response:
    _check_params(frozenset({"f"}))
    return _json(metadata.raster_description(_raster(raster_id), _rasters_base(),
                                             f"{_base()}/ogc"))


@bp.get("/api/v1/rasters/<int:raster_id>/tiles")
def raster_tilesets(raster_id: int) -> Response:
    _check_params(frozenset({"f"}))
    layer = _raster(raster_id)
    here = f"{_rasters_base()}/{layer.id}/tiles"
    sets = [{k: v for k, v in metadata.raster_tileset(layer, _rasters_base(), f"{_base()}/ogc",
                                                       tms_id).items()
             if k in ("title", "dataType", "crs", "tileMatrixSetURI", "links")}
            for tms_id in tms.SUPPORTED]
    return _json({"links": [{"rel": "self", "type": JSON, "href": here}], "tilesets": sets})


@bp.get("/api/v1/rasters/<int:raster_id>/tiles/<tms_id>")
def raster_tileset(raster_id: int, tms_id: str) -> Response:
    _check_params(frozenset({"f"}))
    tms.get(tms_id)
    return _json(metadata.raster_tileset(_raster(raster_id), _rasters_base(), f"{_base()}/ogc",
                                         tms_id))


@bp.get("/api/v1/rasters/<int:raster_id>/tiles/<tms_id>/<z>/<y>/<x>.png")
def raster_tile(raster_id: int, tms_id: str, z: str, y: str, x: str) -> Response:
    _check_params(frozenset())
    tile = tms.parse_tile(tms_id, z, y, x)
    layer = _raster(raster_id)
    if not raster.tile_in_range(layer, tile):
        raise NotFound(f"tile {z}/{y}/{x} is outside the limits of raster {raster_id} "
                       "(see its tileset metadata)")
    try:
        token = layer.stat_token()
    except OSError as exc:
        logger.error("raster %s: file missing: %s", raster_id, exc)
        raise NotFound(f"the file of raster {raster_id} is missing") from exc
    digest = hashlib.blake2b(f"{token}|{RASTER_RENDER_VERSION}|{z}/{y}/{x}".encode(),
                             digest_size=10).hexdigest()
    etag = f'W/"{digest}"'
    headers = {"ETag": etag, "Cache-Control": _cache_control(_state().settings.raster_max_age)}
    if changes.matches(request.headers.get("If-None-Match"), etag):
        return Response(status=304, headers=headers)
    return Response(raster.render_tile(layer, tile), mimetype="image/png", headers=headers)
