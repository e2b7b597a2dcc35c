"""The map's layers as pydeck objects (pydeck turns them into deck.gl JSON).

What pydeck cannot say in JSON (accessors that read the page's state: the date on the slider,
the language, the filters; tile fetchers; the GCJ-02 display shift) is named here with
``pydeck.types.Function`` and implemented in ``static/sw-core.js``, registered with deck.gl's
``JSONConverter`` under the same names.  Keep the two lists in step: ``JS_FUNCTIONS``.

Each layer carries an entry in ``LayerMeta`` that the page uses to decide when to draw it: the
group it belongs to (the layer list's switches), the collections it needs (a layer whose data do
not exist yet is left out, so the page lights up as BIM and sensors land), and a zoom range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pydeck as pdk
from pydeck.types import Function, String

from viewer import palette
from viewer.settings import ViewerSettings

__all__ = ["JS_FUNCTIONS", "LayerMeta", "build_layers"]

# Zoom at which projects switch from vector tiles to GeoJSON, and the BIM layers come in.
DETAIL_ZOOM = 15
CITY_ZOOM = 13     # below: projects are flat, outlined dots
MESH_ZOOM = 17
PROJECT_TILES = "/ogc/collections/projects/tiles/WebMercatorQuad/{z}/{y}/{x}"   # OGC order z/y/x
# System fonts only; CJK faces first so that canvas measures the glyphs it draws.
FONT_FAMILY = ('"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", '
               '"WenQuanYi Micro Hei", sans-serif')

_PX = String("pixels")
# Labels and markers stand up from the ground: without this the ground polygons (drawn at z = 0)
# hide their lower half in a pitched view.
ON_TOP = {"depthCompare": "always", "depthWriteEnabled": False}

JS_FUNCTIONS = (
    "bitmapTile", "toDisplay", "displayPosition", "districtName", "projectFill", "projectLine",
    "projectHeight", "projectCategory", "ogcItemsTile", "elementsTile", "elementFill",
    "elementHeight", "sensorFill", "sensorLine", "sensorLabel", "modelOrientation",
)


@dataclass
class LayerMeta:
    group: str                                  # basemap, districts, projects, bim, sensors
    requires: list[str] = field(default_factory=list)   # OGC collection ids
    min_zoom: float | None = None
    max_zoom: float | None = None
    role: str = ""                              # tells the page's script what it feeds/updates

    def as_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", [])}


def _basemap(settings: ViewerSettings) -> pdk.Layer:
    return pdk.Layer(
        "TileLayer", id="basemap", data=settings.basemap_url, min_zoom=0,
        max_zoom=settings.basemap_max_zoom, tile_size=256, max_requests=8,
        render_sub_layers=Function("bitmapTile"), pickable=False)


def _charset(labels: list[dict]) -> str:
    """Printable ASCII plus every character of the labels: the font atlas is drawn once, with
    all the glyphs it needs (the Chinese names included), on a canvas at run time."""
    chars = {chr(c) for c in range(32, 127)}
    for d in labels:
        chars.update(d.get("name") or "")
        chars.update(d.get("name_en") or "")
    return "".join(sorted(chars))


def _districts(labels: list[dict]) -> list[pdk.Layer]:
    return [
        pdk.Layer(
            "GeoJsonLayer", id="districts",
            data="/ogc/collections/districts/items?f=json&limit=1000",
            data_transform=Function("toDisplay"), stroked=True, filled=True,
            get_fill_color=list(palette.OTHER["district_fill"]),
            get_line_color=list(palette.OTHER["district_line"]),
            line_width_units=_PX, get_line_width=1.5, pickable=False),
        pdk.Layer(
            "TextLayer", id="district-labels", data=labels,
            get_position=Function("displayPosition", key="position"),
            get_text=Function("districtName"), get_size=15, size_units=_PX,
            get_color=list(palette.OTHER["district_text"]), character_set=String(_charset(labels)),
            font_family=String(FONT_FAMILY), font_weight=String("normal"),
            font_settings={"sdf": True, "fontSize": 64, "buffer": 8, "radius": 12},
            outline_width=4, outline_color=[255, 255, 255, 230], billboard=True,
            get_text_anchor=String("middle"), get_alignment_baseline=String("center"),
            parameters=ON_TOP, pickable=False),
    ]


def _project_style(*, extruded: bool) -> dict:
    return dict(
        get_fill_color=Function("projectFill"), get_line_color=Function("projectLine"),
        line_width_units=_PX, get_line_width=1, line_width_min_pixels=1,
        extruded=extruded, get_elevation=Function("projectHeight"), material={"ambient": 0.55,
                                                                              "diffuse": 0.5,
                                                                              "shininess": 8},
        extensions=[{"@@type": "DataFilterExtension", "categorySize": 3}],
        get_filter_category=Function("projectCategory"),
        pickable=True, auto_highlight=True, highlight_color=[255, 255, 255, 110],
    )


def _projects() -> list[tuple[pdk.Layer, LayerMeta]]:
    """Vector tiles at city zoom; GeoJSON from the OGC items (fetched per tile by bbox) in detail,
    with full precision and every property.  ``projects-all`` is the fallback the page uses when
    the collection has no vector tiles (yet): GeoJSON at every zoom, one z8 tile covers a city.
    """
    return [
        (pdk.Layer(
            "MVTLayer", id="projects-tiles", data=PROJECT_TILES, min_zoom=8, max_zoom=DETAIL_ZOOM,
            unique_id_property=String("code"),
            # Parse tiles on the main thread: city tiles are small, and starting a worker pool
            # (one script fetch and start-up per worker) cost more than it saved in the bench.
            # The worker is still served locally should a layer turn workers back on.
            loaders=String("@@#MVT_LOADERS"),
            load_options={"worker": False, "mvt": {"workerUrl": "/static/vendor/mvt-worker.js"}},
            **_project_style(extruded=True)),
         LayerMeta("projects", ["projects"], max_zoom=DETAIL_ZOOM, role="projects-tiles")),
        (pdk.Layer(
            "TileLayer", id="projects-geojson",
            get_tile_data=Function("ogcItemsTile", collection="projects", limit=10000),
            min_zoom=DETAIL_ZOOM, max_zoom=DETAIL_ZOOM, max_requests=4,
            **_project_style(extruded=True)),
         LayerMeta("projects", ["projects"], min_zoom=DETAIL_ZOOM, role="projects-geojson")),
        (pdk.Layer(
            "TileLayer", id="projects-all",
            get_tile_data=Function("ogcItemsTile", collection="projects", limit=10000),
            min_zoom=8, max_zoom=8, max_requests=4, **_project_style(extruded=True)),
         LayerMeta("projects", ["projects"], max_zoom=DETAIL_ZOOM, role="projects-fallback")),
    ]


_ELEMENT_MATERIAL = {"ambient": 0.6, "diffuse": 0.45}


def _bim(models: list[dict]) -> list[tuple[pdk.Layer, LayerMeta]]:
    out = [(pdk.Layer(
        "TileLayer", id="bim-elements", get_tile_data=Function("elementsTile"),
        min_zoom=DETAIL_ZOOM, max_zoom=DETAIL_ZOOM, max_requests=4,
        get_fill_color=Function("elementFill"), get_line_color=[60, 70, 80, 120],
        line_width_units=_PX, get_line_width=0.5, extruded=True,
        get_elevation=Function("elementHeight"), material=_ELEMENT_MATERIAL,
        pickable=True, auto_highlight=True, highlight_color=[255, 255, 255, 140]),
        LayerMeta("bim", ["bim-elements"], min_zoom=DETAIL_ZOOM, role="bim-elements"))]
    # Each model's mesh is read by the page (static/sw-mesh.js) into one Z-up mesh whose vertex
    # colours are its elements' 4D status, as the footprints'; white getColor keeps them as is,
    # and the footprints' material lights both alike.  Not pickable: picking is per instance,
    # i.e. the whole model; clicks go to the footprints.
    for m in models:
        out.append((pdk.Layer(
            "SimpleMeshLayer", id=f"bim-mesh-{m['model_id']}", data=[m],
            get_position=Function("displayPosition", key="position"),
            get_orientation=Function("modelOrientation"), size_scale=1,
            get_color=[255, 255, 255, 255], material=_ELEMENT_MATERIAL, pickable=False),
            LayerMeta("bim", ["bim-elements"], min_zoom=MESH_ZOOM, role="bim-mesh")))
    return out


def _sensors() -> list[tuple[pdk.Layer, LayerMeta]]:
    meta = LayerMeta("sensors", ["sensors"], role="sensors")
    return [
        (pdk.Layer(
            "ScatterplotLayer", id="sensor-alarms", data=[],
            get_position=Function("displayPosition", key="position"),
            get_radius=16, radius_units=_PX, stroked=True, filled=True,
            get_fill_color=[224, 30, 30, 50], get_line_color=[224, 30, 30, 230],
            line_width_units=_PX, get_line_width=2.5, pickable=False),
         LayerMeta("sensors", ["sensors"], role="sensor-alarms")),
        (pdk.Layer(
            "ScatterplotLayer", id="sensors", data=[],
            get_position=Function("displayPosition", key="position"),
            get_radius=6, radius_units=_PX, radius_min_pixels=4, stroked=True,
            get_fill_color=Function("sensorFill"), get_line_color=Function("sensorLine"),
            line_width_units=_PX, get_line_width=1.5, pickable=True, auto_highlight=True),
         meta),
        (pdk.Layer(
            "TextLayer", id="sensor-values", data=[],
            get_position=Function("displayPosition", key="position"),
            get_text=Function("sensorLabel"), get_size=12, size_units=_PX,
            get_pixel_offset=[0, -16], character_set=String("auto"), font_family=String(FONT_FAMILY),
            font_settings={"sdf": True, "fontSize": 48, "buffer": 4}, outline_width=3,
            outline_color=[255, 255, 255, 235], get_color=[25, 35, 45, 255], parameters=ON_TOP,
            pickable=False),
         LayerMeta("sensors", ["sensors"], min_zoom=14, role="sensor-values")),
    ]


def build_layers(settings: ViewerSettings, *, district_labels: list[dict],
                 models: list[dict]) -> tuple[list[pdk.Layer], dict[str, dict]]:
    """The layers bottom to top, and the page's meta entry of each (by layer id)."""
    pairs: list[tuple[pdk.Layer, LayerMeta]] = []
    if settings.basemap_url:
        pairs.append((_basemap(settings), LayerMeta("basemap")))
    districts, labels = _districts(district_labels)
    pairs.append((districts, LayerMeta("districts", ["districts"])))
    pairs += _projects()
    pairs += _bim(models)
    pairs += _sensors()
    pairs.append((labels, LayerMeta("districts", ["districts"], max_zoom=DETAIL_ZOOM + 1)))
    return [p[0] for p in pairs], {p[0].id: p[1].as_json() for p in pairs}
