"""The page's deck.gl spec: pydeck builds the layers, we add what the page's script needs.

``page_spec`` returns ``{"deck": <pydeck JSON>, "sitewatch": <page meta>}``; the template inlines
it, ``static/sitewatch.js`` converts ``deck`` with deck.gl's ``JSONConverter`` and reads the meta
(layer groups, zoom ranges, which collections each layer needs, palette, filter choices).
"""

from __future__ import annotations

import json

import pydeck as pdk

from spatial.collections import PROJECT_TYPES, STAGES
from viewer import palette
from viewer.layers import CITY_ZOOM, DETAIL_ZOOM, JS_FUNCTIONS, MESH_ZOOM, build_layers
from viewer.settings import ViewerSettings

__all__ = ["page_spec", "spec_json"]


def page_spec(settings: ViewerSettings, *, home: dict, district_labels: list[dict],
              models: list[dict], available: dict[str, bool], schedule: dict | None = None) -> dict:
    """Everything the page needs to draw its first frame, as JSON-ready data.

    ``home`` is the first view (longitude, latitude, zoom); ``available`` extra collections known
    to have data even if the OGC listing does not show them yet (e.g. ``{"bim-elements": True}``);
    ``schedule`` the date slider's range (``{"start", "finish"}``, ISO dates) when one is known.
    """
    layers, meta = build_layers(settings, district_labels=district_labels, models=models)
    deck = pdk.Deck(
        layers=layers,
        initial_view_state=pdk.ViewState(pitch=35, bearing=0, max_zoom=20, min_zoom=3, **home),
        views=[pdk.View(type="MapView", controller=True)],
        map_provider=None, map_style=None,
    )
    return {
        "deck": json.loads(deck.to_json()),
        "sitewatch": {
            "layers": meta,
            "functions": list(JS_FUNCTIONS),
            "available": sorted(k for k, v in available.items() if v),
            "palette": palette.as_json(),
            "districts": [{"code": d["code"], "name": d["name"], "name_en": d["name_en"]}
                          for d in district_labels],
            "stages": list(STAGES),
            "types": list(PROJECT_TYPES),
            "detail_zoom": DETAIL_ZOOM,
            "city_zoom": CITY_ZOOM,
            "mesh_zoom": MESH_ZOOM,
            "gcj02": settings.shift_gcj02,
            "basemap": {"url": bool(settings.basemap_url), "crs": settings.basemap_crs,
                        "attribution": settings.basemap_attribution},
            "sensor_refresh_ms": int(settings.sensor_refresh_seconds * 1000),
            "home": home,
            "schedule": schedule,
        },
    }


def spec_json(spec: dict) -> str:
    """The spec as text safe to inline in ``<script type="application/json">``."""
    text = json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
