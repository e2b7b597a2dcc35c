"""Deterministic sample rasters for the sample city: a site DEM and an orthophoto of one project.

The chosen project is the largest building under construction (housing or public building,
at most 4 ha; ties by code).  Both rasters are drawn from one analytic model of the site in its
3-degree Gauss-Krüger zone (EPSG:4549 for Hangzhou), the way a survey would deliver them:

* a DEM at 0.5 m: natural ground about 7.5 m above datum, an excavation pit inset 12 m from the
  site boundary and 12 m deep (超过一定规模的深基坑, ≥ 5 m), dug with a 1:1 upper slope, a 2 m
  berm and a steep shotcreted lower slope, a 1:6 ramp for the trucks, two sumps, a spoil heap;
* an RGBA orthophoto at 0.25 m: road, green verge, the hoarding, blue-roofed site offices,
  soil, shotcrete, the raft (half poured, half rebar), a tower crane, lit by the DEM's hillshade.

Outside the surveyed area (the site plus 20 m, a rotated rectangle on a north-up grid) pixels
are nodata/transparent, so tiles show both data and no data.  Written as Cloud-Optimised
GeoTIFFs (256-pixel blocks, DEFLATE, overviews) under ``files_root/rasters/<project code>/``,
then registered in ``sitewatch.project_raster``.  Same seed, same bytes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import psycopg
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.io import MemoryFile

from spatial.crs import gk_zone_epsg
from spatial.sample_city_data import AS_OF
from tiles import raster, render

logger = logging.getLogger(__name__)

__all__ = ["pick_project", "write_sample_rasters"]

DEM_RES = 0.5
ORTHO_RES = 0.25
NODATA = -9999.0
GROUND = 7.5          # m above datum
DEPTH = 12.0          # pit depth, m
INSET = 12.0          # pit edge to site boundary, m
SURVEY_MARGIN = 20.0  # surveyed beyond the site boundary, m


def pick_project(conn: psycopg.Connection) -> tuple[str, float] | None:
    """(code, centroid longitude) of the sample's raster project, or None for an empty city."""
    return conn.execute(
        "SELECT code, ST_X(ST_Centroid(footprint)) FROM sitewatch.project "
        "WHERE stage = 'under_construction' AND type IN ('housing', 'public_building') "
        "AND ST_Area(footprint::geography) BETWEEN 2000 AND 40000 "
        "ORDER BY ST_Area(footprint::geography) DESC, code LIMIT 1").fetchone()


class _Site:
    """The site's rotated rectangle in Gauss-Krüger metres, and local (u, v) axes."""

    def __init__(self, footprint: shapely.Geometry) -> None:
        ring = np.asarray(shapely.minimum_rotated_rectangle(footprint).exterior.coords)[:4]
        edges = np.diff(np.vstack([ring, ring[:1]]), axis=0)
        lengths = np.hypot(edges[:, 0], edges[:, 1])
        i = int(np.argmax(lengths))
        self.u = edges[i] / lengths[i]
        self.v = np.array([-self.u[1], self.u[0]])
        self.centre = ring.mean(axis=0)
        self.a = lengths[i] / 2.0                 # half length along u
        self.b = lengths[(i + 1) % 4] / 2.0       # half width along v
        self.pa = max(self.a - INSET, self.a * 0.5)
        self.pb = max(self.b - INSET, self.b * 0.5)

    def grid(self, res: float) -> tuple[np.ndarray, np.ndarray, object, tuple[int, int]]:
        """Local coordinates of pixel centres of a north-up grid over the survey area."""
        corners = np.array([[sx * (self.a + SURVEY_MARGIN), sy * (self.b + SURVEY_MARGIN)]
                            for sx in (-1, 1) for sy in (-1, 1)])
        world = self.centre + corners[:, :1] * self.u + corners[:, 1:] * self.v
        x0, y1 = np.floor(world[:, 0].min()), np.ceil(world[:, 1].max())
        width = int(np.ceil((world[:, 0].max() - x0) / res))
        height = int(np.ceil((y1 - world[:, 1].min()) / res))
        xs = x0 + (np.arange(width) + 0.5) * res - self.centre[0]
        ys = y1 - (np.arange(height) + 0.5) * res - self.centre[1]
        dx, dy = np.meshgrid(xs, ys)
        du = dx * self.u[0] + dy * self.u[1]
        dv = dx * self.v[0] + dy * self.v[1]
        return du, dv, Affine(res, 0.0, x0, 0.0, -res, y1), (height, width)

    def surveyed(self, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
        return (np.abs(du) <= self.a + SURVEY_MARGIN) & (np.abs(dv) <= self.b + SURVEY_MARGIN)

    def pit_distance(self, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
        """Signed distance to the pit edge (negative inside)."""
        qx, qy = np.abs(du) - self.pa, np.abs(dv) - self.pb
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        return outside + np.minimum(np.maximum(qx, qy), 0)

    def elevation(self, du: np.ndarray, dv: np.ndarray, phases: np.ndarray) -> np.ndarray:
        ground = (GROUND + 0.004 * du - 0.002 * dv
                  + 0.15 * np.sin(du / 23.0 + phases[0]) * np.cos(dv / 17.0 + phases[1]))
        d = -self.pit_distance(du, dv)            # inward distance from the pit edge
        upper = np.clip(d, 0, 3.0)                # 1:1 to 3 m
        lower = np.clip((d - 5.0) / 0.25, 0, None)  # a 2 m berm, then 1:0.25
        depth = np.minimum(upper + lower, DEPTH)
        ramp_len = min(DEPTH * 6.0, self.pa)
        on_ramp = (np.abs(dv) < 3.5) & (du > self.pa - ramp_len) & (du <= self.pa)
        ramp = DEPTH * np.clip((self.pa - du) / ramp_len, 0, 1)
        depth = np.where(on_ramp, np.minimum(depth, ramp), depth)
        for cu, cv in ((-0.6, -0.5), (0.3, 0.55)):  # sumps at the pit floor
            depth += 1.2 * np.exp(-((du - cu * self.pa) ** 2 + (dv - cv * self.pb) ** 2) / 4.0) \
                * (depth >= DEPTH - 0.01)
        heap = 4.0 * np.exp(-((du + self.a - 6.0) ** 2 + (dv - 0.3 * self.b) ** 2) / 32.0)
        return ground - depth + np.where(d < 0, heap, 0.0)


def _dem(site: _Site, phases: np.ndarray) -> tuple[np.ndarray, object]:
    du, dv, transform, _ = site.grid(DEM_RES)
    z = site.elevation(du, dv, phases)
    return np.where(site.surveyed(du, dv), z, NODATA).astype("float32")[None], transform


def _ortho(site: _Site, phases: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, object]:
    du, dv, transform, shape = site.grid(ORTHO_RES)
    z = site.elevation(du, dv, phases)
    shade = render.hillshade(np.pad(z, 1, mode="edge"), ORTHO_RES)
    a, b = site.a, site.b
    inside = (np.abs(du) <= a) & (np.abs(dv) <= b)
    d = -site.pit_distance(du, dv)
    rgb = np.empty(shape + (3,))
    rgb[:] = (86, 128, 66)                                           # green verge
    road = dv > b + 6.0
    rgb[road] = (96, 96, 102)
    rgb[road & (np.abs(dv - (b + 13.0)) < 0.15) & (np.mod(du, 6.0) < 3.0)] = (235, 235, 235)
    rgb[inside] = (178, 154, 112)                                     # compacted soil
    rgb[inside & (d > 0) & (d <= 3.0)] = (140, 106, 72)               # upper slope, soil
    rgb[inside & (d > 5.0)] = (158, 158, 152)                         # shotcrete wall
    floor = inside & (z <= GROUND - DEPTH + 0.6)
    rgb[floor & (du < 0)] = (188, 187, 182)                           # poured raft
    rebar = floor & (du >= 0)
    rgb[rebar] = (120, 98, 78)
    rgb[rebar & ((np.mod(du, 1.5) < 0.2) | (np.mod(dv, 1.5) < 0.2))] = (62, 52, 46)
    ramp = inside & (np.abs(dv) < 3.5) & (du > site.pa - min(DEPTH * 6, site.pa)) & (d > 0)
    rgb[ramp] = (150, 140, 122)
    rgb[inside & (z > GROUND + 1.0)] = (112, 86, 60)                  # spoil heap
    for k in range(3):                                                # blue-roofed offices
        u0 = -a + 4.0 + k * 9.0
        office = (du >= u0) & (du < u0 + 7.0) & (dv > -b + 1.5) & (dv < -b + 7.5) & (d < 0)
        rgb[office] = (42, 101, 188)
    hoarding = inside & ((a - np.abs(du) < 0.6) | (b - np.abs(dv) < 0.6))
    rgb[hoarding] = (40, 92, 168)
    jib_dir = np.array([np.cos(0.5), np.sin(0.5)])                    # tower crane jib
    along = du * jib_dir[0] + dv * jib_dir[1]
    across = -du * jib_dir[1] + dv * jib_dir[0]
    rgb[(np.abs(across) < 0.6) & (along > -12.0) & (along < min(50.0, 1.6 * a))] = (232, 190, 40)
    rgb[(np.abs(du) < 2.0) & (np.abs(dv) < 2.0)] = (70, 70, 70)
    rgb *= (0.62 + 0.38 * shade)[..., None]
    rgb += rng.normal(0.0, 6.0, shape)[..., None]
    alpha = np.where(site.surveyed(du, dv), 255, 0)
    out = np.concatenate([np.clip(rgb, 0, 255), alpha[..., None]], axis=-1)
    return np.moveaxis(out.astype("uint8"), -1, 0), transform


def _write_cog(path: Path, data: np.ndarray, transform, epsg: int, *, nodata: float | None,
               rgba: bool) -> None:
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
               "count": data.shape[0], "dtype": data.dtype.name, "crs": CRS.from_epsg(epsg),
               "transform": transform, "nodata": nodata}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
            if rgba:
                dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue,
                                   ColorInterp.alpha]
        with mem.open() as src:
            rasterio.shutil.copy(
                src, tmp, driver="COG", compress="DEFLATE", blocksize=256,
                predictor="STANDARD" if rgba else "FLOATING_POINT",
                overview_resampling="AVERAGE" if rgba else "BILINEAR")
    os.replace(tmp, path)


def write_sample_rasters(conn: psycopg.Connection, files_root: Path, *,
                         seed: int = 1) -> list[dict]:
    """Generate, write and register the sample DEM and orthophoto; return what was made."""
    picked = pick_project(conn)
    if picked is None:
        return []
    code, lon = picked
    epsg = gk_zone_epsg(lon)
    (wkb,) = conn.execute("SELECT ST_AsBinary(ST_Transform(footprint, %s)) FROM sitewatch.project "
                          "WHERE code = %s", (epsg, code)).fetchone()  # type: ignore[misc]
    site = _Site(shapely.from_wkb(bytes(wkb)))
    rng = np.random.Generator(np.random.PCG64(seed))
    phases = rng.uniform(0, 2 * np.pi, 2)
    folder = files_root / "rasters" / code
    made = []
    dem, dem_transform = _dem(site, phases)
    _write_cog(folder / "dem.tif", dem, dem_transform, epsg, nodata=NODATA, rgba=False)
    ortho, ortho_transform = _ortho(site, phases, rng)
    _write_cog(folder / "orthophoto.tif", ortho, ortho_transform, epsg, nodata=None, rgba=True)
    for kind, name, title in (("dem", "dem.tif", "场地数字高程模型 Site DEM"),
                              ("orthophoto", "orthophoto.tif", "场地正射影像 Site orthophoto")):
        rid = raster.register(conn, code, folder / name, kind=kind, files_root=files_root,
                              title=title, captured_on=AS_OF)
        made.append({"id": rid, "project": code, "kind": kind,
                     "path": str((folder / name).relative_to(files_root))})
    logger.info("sample rasters for %s written under %s", code, folder)
    return made
