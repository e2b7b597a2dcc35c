"""The map page as HTTP (no browser): the spec it inlines, its assets, its two JSON feeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from viewer.layers import JS_FUNCTIONS

STATIC = Path(__file__).resolve().parents[2] / "viewer" / "static"


def _spec(html: str) -> dict:
    m = re.search(r'<script id="sw-spec" type="application/json">(.*?)</script>', html, re.S)
    assert m, "the page inlines its deck spec"
    return json.loads(m.group(1))


def test_page_inlines_the_pydeck_spec(client):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    spec = _spec(html)
    layers = {layer["id"]: layer for layer in spec["deck"]["layers"]}
    assert layers["districts"]["@@type"] == "GeoJsonLayer"
    assert layers["projects-tiles"]["@@type"] == "MVTLayer"
    # OGC API Tiles order: z / row (y) / column (x).
    assert layers["projects-tiles"]["data"] == \
        "/ogc/collections/projects/tiles/WebMercatorQuad/{z}/{y}/{x}"
    assert layers["projects-tiles"]["loadOptions"]["mvt"]["workerUrl"].startswith("/static/")
    assert layers["district-labels"]["data"][0]["name"]            # names from our data
    assert set("西湖区") <= set(layers["district-labels"]["characterSet"])
    meta = spec["sitewatch"]
    assert set(meta["layers"]) == set(layers)
    assert meta["layers"]["sensors"]["requires"] == ["sensors"]
    assert meta["layers"]["bim-elements"]["requires"] == ["bim-elements"]
    assert len(meta["districts"]) == 10 and "under_construction" in meta["stages"]


def test_page_loads_nothing_from_outside(client):
    html = client.get("/").get_data(as_text=True)
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith(("/", "#", "data:")), f"{src} is not served by SiteWatch"
    assert not re.search(r"unpkg|jsdelivr|cdnjs|googleapis|mapbox\.com|carto", html)
    # The OGC links of the old start page live on in the help box.
    assert 'href="/ogc/"' in html and "/ogc/collections/projects/items" in html


def test_every_function_the_spec_names_is_in_the_script(client):
    core = (STATIC / "sw-core.js").read_text()
    spec = _spec(client.get("/").get_data(as_text=True))
    named = set(re.findall(r'"@@function": ?"(\w+)"', json.dumps(spec["deck"])))
    assert named <= set(JS_FUNCTIONS)
    for name in JS_FUNCTIONS:
        assert re.search(rf"\b{name}: \(", core), f"sw-core.js does not define {name}"


def test_static_assets(client):
    r = client.get("/static/sitewatch.js")
    assert r.status_code == 200 and "javascript" in r.mimetype
    strings = client.get("/static/i18n.json").get_json()
    assert set(strings["zh"]) == set(strings["en"])
    assert strings["zh"]["title"].endswith("工程建设监管")
    if not (STATIC / "vendor" / "deck-bundle.js.gz").is_file():
        pytest.skip("viewer/static/vendor is not built (scripts/build-viewer.sh)")
    r = client.get("/static/vendor/deck-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert "javascript" in r.mimetype
    r = client.get("/static/vendor/deck-bundle.js")
    assert "Content-Encoding" not in r.headers and r.get_data()[:200]


def test_elements_feed(client):
    r = client.get("/viewer/elements.json?bbox=120.0,30.0,120.5,30.5")
    assert r.status_code == 200
    body = r.get_json()
    assert body["type"] == "FeatureCollection" and isinstance(body["features"], list)
    bad = client.get("/viewer/elements.json?bbox=1,2,3")
    assert bad.status_code == 400 and bad.get_json()["code"] == "InvalidParameterValue"


def test_party_names(client, city_conn):
    code, name = city_conn.execute(
        "SELECT credit_code, name FROM sitewatch.enterprise ORDER BY credit_code LIMIT 1").fetchone()
    assert client.get(f"/viewer/parties?codes={code}").get_json() == {code: name}
