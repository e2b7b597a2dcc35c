"""Real clients on a real socket: GDAL's OAPIF driver (what QGIS and ogr2ogr use) and a plain
``requests`` client that pages through ``next`` links."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import requests

OGRINFO = shutil.which("ogrinfo")
needs_ogrinfo = pytest.mark.skipif(
    OGRINFO is None, reason="GDAL's ogrinfo is not installed (apt-get install gdal-bin)")


def ogrinfo(*args: str) -> str:
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "30", "GDAL_HTTP_MAX_RETRY": "0",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "CPL_DEBUG": "OFF"}
    done = subprocess.run([OGRINFO, *args], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, f"ogrinfo {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    assert "ERROR" not in done.stderr, done.stderr
    return done.stdout


@needs_ogrinfo
def test_ogrinfo_summary_of_projects(live_server, city_conn):
    total = city_conn.execute("SELECT count(*) FROM sitewatch.project").fetchone()[0]
    out = ogrinfo("-ro", "-so", f"OAPIF:{live_server}/ogc", "projects")
    match = re.search(r"^Feature Count: (\d+)$", out, re.MULTILINE)
    assert match, out
    assert int(match.group(1)) == total == 300
    assert re.search(r"^Geometry: Multi Polygon$", out, re.MULTILINE), out
    for field in (r"stage: String", r"investment: Real", r"planned_start: Date",
                  r"storeys: Integer"):
        assert re.search(rf"^{field}", out, re.MULTILINE), (field, out)


@needs_ogrinfo
def test_ogrinfo_reads_all_districts(live_server, city_conn):
    expected = {r[0]: r[1] for r in city_conn.execute(
        "SELECT code, name FROM sitewatch.district").fetchall()}
    assert len(expected) == 10
    out = ogrinfo("-ro", "-al", "-q", f"OAPIF:{live_server}/ogc", "districts")
    assert len(re.findall(r"^OGRFeature\(districts\):\d+$", out, re.MULTILINE)) == 10
    codes = re.findall(r"^  code \(String\) = (\d{6})$", out, re.MULTILINE)
    names = re.findall(r"^  name \(String\) = (.+)$", out, re.MULTILINE)
    assert dict(zip(codes, names)) == expected
    assert len(re.findall(r"^  MULTIPOLYGON \(\(\(", out, re.MULTILINE)) == 10


@needs_ogrinfo
def test_ogrinfo_attribute_filter_matches_sql(live_server, city_conn):
    expected = city_conn.execute(
        "SELECT count(*) FROM sitewatch.project WHERE stage = 'filing'").fetchone()[0]
    out = ogrinfo("-ro", "-al", "-q", "-where", "stage = 'filing'",
                  f"OAPIF:{live_server}/ogc", "projects")
    assert len(re.findall(r"^OGRFeature\(projects\):\d+$", out, re.MULTILINE)) == expected


def test_requests_client_pages_through_everything(live_server, city_conn):
    expected = {r[0] for r in city_conn.execute("SELECT code FROM sitewatch.project").fetchall()}
    session = requests.Session()
    session.trust_env = False  # no proxy between us and 127.0.0.1
    url: str | None = f"{live_server}/ogc/collections/projects/items"
    params: dict | None = {"limit": 100}
    seen: list[str] = []
    pages = 0
    while url:
        response = session.get(url, params=params, timeout=30)
        params = None  # the next link carries everything
        assert response.status_code == 200, response.text[:300]
        assert response.headers["Content-Type"].startswith("application/geo+json")
        body = response.json()
        assert body["numberMatched"] == len(expected)
        assert body["numberReturned"] == len(body["features"])
        seen.extend(f["id"] for f in body["features"])
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
        if url:
            assert url.startswith(live_server), url
        pages += 1
        assert pages <= 10
    assert pages == 3
    assert len(seen) == len(set(seen)) == 300
    assert set(seen) == expected
