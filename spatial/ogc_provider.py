"""pygeoapi feature provider over SiteWatch's own queries (``spatial.features``).

pygeoapi builds a provider object on every request, so the provider holds no connection of its
own: it borrows one from the module-level pool that ``configure`` installs (the app factory does
this once per process).  The GeoJSON still comes out of PostGIS; this class only adapts
pygeoapi's call signature to :class:`spatial.features.ItemsQuery`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from psycopg_pool import ConnectionPool
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from spatial import features
from spatial.collections import COLLECTIONS
from spatial.crs import STORAGE_CRS, parse_crs
from spatial.errors import InvalidQuery

logger = logging.getLogger(__name__)

_pool: ConnectionPool | None = None


def configure(pool: ConnectionPool | None) -> None:
    """Install the pool every provider instance borrows connections from."""
    global _pool
    _pool = pool


def _borrow() -> ConnectionPool:
    if _pool is None:
        raise ProviderConnectionError("SiteWatch provider has no database pool configured")
    return _pool


class SiteWatchProvider(BaseProvider):
    """Provider for the collections in ``spatial.collections.COLLECTIONS`` (``data`` = id)."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        try:
            self.collection = COLLECTIONS[provider_def["data"]]
        except KeyError as exc:
            raise ProviderConnectionError(f"unknown collection {provider_def['data']!r}") from exc
        self.id_field = self.id_field or "code"
        self._fields = {
            p.name: {k: v for k, v in p.schema.items() if k in ("type", "format", "title")}
            for p in self.collection.properties
        }

    def get_fields(self) -> dict:
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list | None = None, datetime_: str | None = None,
              properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False,
              q: str | None = None, filterq: Any = None, crs_transform_spec: Any = None,
              **kwargs: Any) -> dict:
        try:
            query = features.ItemsQuery(
                limit=0 if resulttype == "hits" else limit,
                offset=offset,
                # pygeoapi hands the bbox over already in the storage CRS, EPSG:4490 (lat,lon).
                bbox=tuple(bbox[:2] + bbox[-2:]) if bbox else None,
                bbox_crs=parse_crs(STORAGE_CRS),
                crs=parse_crs(getattr(crs_transform_spec, "target_crs_uri", None)),
                **features.parse_datetime_for(self.collection, datetime_),
                filter=filterq,
                sortby=tuple((s["property"], s["order"] == "-") for s in sortby or ()),
                properties=tuple(select_properties) if select_properties else None,
                skip_geometry=skip_geometry,
                equals=tuple((k, str(v)) for k, v in properties or ()
                             if k in self.collection.queryables),
            )
            with _borrow().connection() as conn:
                page = features.query_items(conn, self.collection, query)
        except InvalidQuery as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc
        result = json.loads(f'{{"type":"FeatureCollection","features":[{page.features}]}}')
        result["numberMatched"] = page.number_matched
        result["numberReturned"] = page.number_returned
        return result

    def get(self, identifier: str, crs_transform_spec: Any = None, **kwargs: Any) -> dict:
        crs = parse_crs(getattr(crs_transform_spec, "target_crs_uri", None))
        with _borrow().connection() as conn:
            text = features.get_item(conn, self.collection, str(identifier), crs=crs)
        if text is None:
            raise ProviderItemNotFoundError(user_msg=f"no feature {identifier!r}")
        return json.loads(text)

    def __repr__(self) -> str:
        return f"<SiteWatchProvider {self.collection.id}>"
