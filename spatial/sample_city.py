"""The deterministic sample city: Hangzhou's ten districts, enterprises, projects and stage history.

District codes and names are the real GB/T 2260 ones; boundaries are synthetic (Voronoi cells
around approximate district centres, clipped to a simplified city outline) and say so in
``boundary_note``.  Enterprises, projects and people are invented but well formed: credit codes,
project codes and permit numbers pass :mod:`spatial.codes`, dates follow the lifecycle stage, and the
hazardous works (危大工程) follow the thresholds of 建办质〔2018〕31号.

Everything comes from one ``numpy.random.Generator(PCG64(seed))``: the same seed gives the same
rows, byte for byte (with the same numpy, GEOS and PROJ), and nothing depends on the wall clock
(the city's "today" is :data:`spatial.sample_city_data.AS_OF`; timestamps are derived from the
stage dates).  Generation is vectorised (numpy, shapely 2, pyproj); the rows go in with ``COPY``
inside one transaction, with the foreign keys of the loaded tables dropped and re-validated
around it.  About 10,000–18,000 projects/s on two cores.

Examples
--------
>>> summary = load(conn, projects=300, seed=1)  # doctest: +SKIP
>>> summary["districts"], summary["projects"]  # doctest: +SKIP
(10, 300)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from math import isnan

import numpy as np
import psycopg
import shapely
from psycopg import sql
from pyproj import Transformer

from spatial import sample_city_data as data
from spatial.codes import make_credit_code, make_permit_no, make_project_code
from spatial.crs import STORAGE_SRID, gk_zone_epsg

logger = logging.getLogger(__name__)

__all__ = ["SampleEnterprise", "district_geometries", "generate_enterprises", "load", "project_rows"]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_AS_OF = data.AS_OF.toordinal() - _EPOCH_ORDINAL  # days since 1970-01-01
_SUB = data.SUBTYPES
_SUB_KEYS = tuple(s[1] for s in _SUB)
_N_STAGES = len(data.STAGES)
_PERMIT = data.STAGES.index("construction_permit")
_STARTED = data.STAGES.index("under_construction")
_FINISHED = data.STAGES.index("completion_acceptance")
_BUILDINGS = np.array([k not in data.PHASES for k in _SUB_KEYS])
_INFRA = np.array([s[0] in data.INFRA_TYPES for s in _SUB])
_CHUNK_ROWS = 200  # project rows per COPY write (~160 kB)
_HISTORY_CHUNK = 20_000  # stage-history lines per COPY write
_TRUNCATE = ("TRUNCATE sitewatch.project_stage_history, sitewatch.project, sitewatch.enterprise, "
             "sitewatch.district RESTART IDENTITY CASCADE")
# Foreign keys declared on the tables the bulk load fills: dropped for the COPY and added back (and
# so validated in one pass) before commit, as PostgreSQL's "Populating a Database" advises.
_FK_QUERY = """
SELECT n.nspname, r.relname, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
WHERE c.contype = 'f' AND n.nspname = 'sitewatch' AND r.relname IN ('project', 'project_stage_history')
ORDER BY r.relname, c.conname
"""
_PROJECT_COLUMNS = (
    "id", "code", "name", "address", "district_code", "permit_no", "type", "stage",
    "key_livelihood", "construction_unit", "contractor_unit", "supervision_unit", "survey_unit",
    "design_unit", "investment", "floor_area", "storeys", "planned_start", "planned_finish",
    "actual_start", "actual_finish", "project_manager", "chief_supervisor", "image_progress",
    "hazardous_works", "footprint", "updated_at",
)


def _p(**by_key: float) -> np.ndarray:
    """Per-subtype probabilities from keyword arguments (0 for subtypes not named)."""
    return np.array([by_key.get(k, 0.0) for k in _SUB_KEYS])


# Chance that a project of each subtype has a given hazardous work (beyond the rule-based ones).
_FORMWORK = _p(culture=.8, complex=.7, school=.5, hospital=.6, bus_hub=.6, data_centre=.5,
               factory=.4, office=.4, rd_centre=.3, bridge=.8, expressway=.7, metro_station=.5,
               sewage_plant=.3, waterworks=.3, commercial_housing=.15, resettlement=.1)
_NONSTANDARD_LIFT = _p(bridge=.7, expressway=.8, metro_station=.6, tunnel=.6, utility_tunnel=.4,
                       factory=.3, sewage_plant=.3)
_CURTAIN = _p(office=.8, complex=.7, hospital=.4, culture=.6, rd_centre=.5, data_centre=.2)
_STEEL = _p(culture=.6, complex=.4, factory=.7, bus_hub=.5, data_centre=.4, school=.2, bridge=.3,
            expressway=.3)
_TUNNEL = _p(tunnel=1.0, metro_station=.4, utility_tunnel=.3, sewer=.4)
_TUNNEL_KIND = {"tunnel": 1, "metro_station": 3, "utility_tunnel": 2, "sewer": 2}
# Excavation depth (m, low/high) of works without a basement; buildings use basement levels.
_EXCAVATION = {"metro_station": (16, 26), "utility_tunnel": (7, 11), "sewer": (3, 7),
               "bridge": (2.5, 5), "pump_station": (6, 12), "sewage_plant": (4, 9),
               "waterworks": (4, 9), "tunnel": (15, 25), "expressway": (2, 4), "road": (1, 3.5),
               "park": (0.5, 2), "river": (1, 3)}
_CRANE_KN = np.array([60, 80, 100, 120, 160, 200, 250, 320, 400])
_CRANE_P = np.array([.18, .2, .18, .14, .12, .08, .05, .03, .02])
_TUNNEL_TEXT = {1: "盾构法隧道施工", 2: "顶管法管道施工", 3: "矿山法暗挖通道施工"}
_SCAFFOLD_TEXT = {1: "落地式钢管脚手架，搭设高度", 2: "附着式升降脚手架，提升高度",
                  3: "悬挑式脚手架，分段架体搭设高度"}
_SCAFFOLD_KIND = {1: "ground", 2: "climbing", 3: "cantilever"}


@dataclass(frozen=True)
class SampleEnterprise:
    """One sample enterprise: credit code, name, roles and registration district."""

    credit_code: str
    name: str
    roles: tuple[str, ...]
    region: str


def district_geometries() -> list[shapely.MultiPolygon]:
    """The synthetic district boundaries, in the order of ``sample_city_data.DISTRICTS``.

    Voronoi cells around the approximate district centres, clipped to the city outline.

    Returns
    -------
    list of shapely.MultiPolygon
        One valid MultiPolygon per district, lon/lat in CGCS2000 (EPSG:4490), without an SRID set.
    """
    outline = shapely.Polygon(data.CITY_OUTLINE)
    centres = shapely.points([(d[3], d[4]) for d in data.DISTRICTS])
    cells = shapely.voronoi_polygons(shapely.multipoints(centres), extend_to=outline, ordered=True)
    parts = shapely.intersection(shapely.get_parts(cells), outline)
    if not shapely.contains(parts, centres).all():
        raise RuntimeError("Voronoi cells are not in the order of their centres")
    return list(shapely.multipolygons(parts[:, None]))


def generate_enterprises(rng: np.random.Generator) -> list[SampleEnterprise]:
    """The sample enterprises (68), each with a valid, unique credit code (GB 32100).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all choices; the result depends only on its state.

    Returns
    -------
    list of SampleEnterprise
        In the order of ``sample_city_data.ENTERPRISE_KINDS`` (construction units first).
    """
    total = sum(kind[1] for kind in data.ENTERPRISE_KINDS)
    words = rng.permutation(len(data.TRADE_WORDS))[:total]
    serials = rng.choice(900_000, size=total, replace=False) + 100_000
    regions = rng.integers(0, len(data.DISTRICTS), size=total)
    out: list[SampleEnterprise] = []
    for roles, count, templates in data.ENTERPRISE_KINDS:
        picks = rng.integers(0, len(templates), size=count)
        for pick in picks.tolist():
            i = len(out)
            region = data.DISTRICTS[int(regions[i])][0]
            name = templates[pick].format(w=data.TRADE_WORDS[int(words[i])],
                                          p=data.PLACE_PREFIXES[int(regions[i])])
            # make_credit_code uses the first six of seven digits: a multiple of ten keeps the
            # organisation codes distinct.
            code = make_credit_code(region, int(serials[i]) * 10)
            out.append(SampleEnterprise(code, name, roles, region))
    if len({e.credit_code for e in out}) != total or len({e.name for e in out}) != total:
        raise RuntimeError("sample enterprises are not unique")
    return out


def _person_names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` synthetic Chinese personal names (surname + one or two given characters)."""
    sur = rng.integers(0, len(data.SURNAMES), size=count)
    g1 = rng.integers(0, len(data.GIVEN_CHARS), size=count)
    g2 = rng.integers(0, len(data.GIVEN_CHARS), size=count)
    two = rng.random(count) < 0.7
    s, g = data.SURNAMES, data.GIVEN_CHARS
    return [s[a] + g[b] + (g[c] if t else "") for a, b, c, t in
            zip(sur.tolist(), g1.tolist(), g2.tolist(), two.tolist())]


def _sites(rng: np.random.Generator, district: np.ndarray, short: np.ndarray, long: np.ndarray,
           geoms: list[shapely.MultiPolygon]) -> tuple[np.ndarray, np.ndarray]:
    """Rotated rectangles (metres, built in the Gauss-Krüger zone) inside their district.

    Centres are drawn around the district centre (70 %) or uniformly in its bounds (30 %); any
    rectangle not within the district shrunk by ~20 m is drawn again (its long side shortened after
    20 failed rounds).  Returns the rectangles as an array of shapely Polygons (lon/lat) and their
    areas in m².
    """
    epsg = gk_zone_epsg(float(np.mean([d[3] for d in data.DISTRICTS])))
    fwd = Transformer.from_crs(STORAGE_SRID, epsg, always_xy=True)
    inv = Transformer.from_crs(epsg, STORAGE_SRID, always_xy=True)
    rects = np.empty(district.size, dtype=object)
    long = long.copy()
    dx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    dy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    for j, row in enumerate(data.DISTRICTS):
        inner = shapely.buffer(geoms[j], -0.0002)
        shapely.prepare(inner)
        x0, y0, x1, y1 = shapely.bounds(inner).tolist()
        todo = np.flatnonzero(district == j)
        rounds = 0
        while todo.size:
            rounds += 1
            if rounds > 200:
                raise RuntimeError(f"cannot place {todo.size} sites in district {row[0]}")
            if rounds > 20:
                long[todo] = np.maximum(long[todo] * 0.8, short[todo])
            m = todo.size
            near = rng.random(m) < 0.7
            lon = np.where(near, rng.normal(row[3], row[7], m), rng.uniform(x0, x1, m))
            lat = np.where(near, rng.normal(row[4], row[7], m), rng.uniform(y0, y1, m))
            angle = rng.uniform(0.0, np.pi, m)
            east, north = fwd.transform(lon, lat)
            cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
            u, v = dx * long[todo, None], dy * short[todo, None]
            ce, cn = inv.transform(east[:, None] + u * cos - v * sin,
                                   north[:, None] + u * sin + v * cos)
            polys = shapely.polygons(np.stack([ce, cn], axis=-1))
            ok = shapely.contains(inner, polys)
            rects[todo[ok]] = polys[ok]
            todo = todo[~ok]
    return rects, short * long


def _dates(rng: np.random.Generator, stage: np.ndarray, planned_days: np.ndarray) -> dict:
    """Stage entry days (days since 1970, shape ``(n, 9)``) and planned/actual dates."""
    n = stage.size
    gaps = np.stack([rng.integers(lo, hi + 1, n) for lo, hi in data.STAGE_GAPS], axis=1)
    actual_days = np.rint(planned_days * rng.uniform(0.92, 1.3, n)).astype(np.int64)
    filing = rng.integers(data.FILING_GAP[0], data.FILING_GAP[1] + 1, n)
    t = np.zeros((n, _N_STAGES), dtype=np.int64)
    t[:, 1:_STARTED + 1] = np.cumsum(gaps, axis=1)
    t[:, _FINISHED] = t[:, _STARTED] + actual_days
    t[:, _FINISHED + 1] = t[:, _FINISHED] + filing
    rows = np.arange(n)
    here = t[rows, stage]
    nxt = t[rows, np.minimum(stage + 1, _N_STAGES - 1)]
    dwell = np.where(stage < _N_STAGES - 1, nxt - here, 1200)
    # AS_OF falls in [entry of the current stage, entry of the next one).
    shift = _AS_OF - here - np.floor(rng.random(n) * dwell).astype(np.int64)
    t += shift[:, None]
    expected = sum((lo + hi) / 2 for lo, hi in data.STAGE_GAPS)
    planned_start = t[:, 0] + np.rint(expected + rng.normal(0, 40, n)).astype(np.int64)
    elapsed = np.clip((_AS_OF - t[:, _STARTED]) / np.maximum(actual_days, 1), 0, 0.999)
    return {"t": t, "planned_start": planned_start, "planned_finish": planned_start + planned_days,
            "elapsed": elapsed}


def _hazard_params(rng: np.random.Generator, sub: np.ndarray, district: np.ndarray,
                   storeys: np.ndarray, basement: np.ndarray) -> dict:
    """Parameters of each project's hazardous works (NaN or 0 where a work is absent)."""
    n = sub.size
    nan = np.full(n, np.nan)
    building = _BUILDINGS[sub]
    is_housing = np.array([s[0] == "housing" for s in _SUB])[sub]
    height = storeys * np.where(is_housing, 3.0, 4.2) + 1.5
    low = np.array([_EXCAVATION.get(k, (1.2, 3.2))[0] for k in _SUB_KEYS])[sub]
    high = np.array([_EXCAVATION.get(k, (1.2, 3.2))[1] for k in _SUB_KEYS])[sub]
    depth = np.where(basement > 0, basement * rng.uniform(3.6, 4.4, n) + rng.uniform(0.8, 1.8, n),
                     rng.uniform(low, high))
    depth = np.round(depth, 1)
    fw = rng.random(n) < _FORMWORK[sub]
    fw_h = np.round(np.where(_INFRA[sub], rng.uniform(6, 18, n), rng.uniform(5, 14, n)), 1)
    fw_s = np.round(rng.uniform(6, 30, n), 1)
    crane = building & ((storeys >= 3) | (basement > 0))
    crane_kn = rng.choice(_CRANE_KN, size=n, p=_CRANE_P)
    crane_h = np.round(height + rng.uniform(6, 15, n), 0)
    lift = rng.random(n) < _NONSTANDARD_LIFT[sub]
    lift_kn = rng.integers(20, 600, n)
    climb = rng.random(n) < 0.55
    scaffold = np.where(~building | (height < 24), 0, np.where(height < 50, 1, np.where(climb, 2, 3)))
    scaffold_h = np.round(np.where(scaffold == 3, rng.uniform(15, 24, n), height), 1)
    pile_p = np.where(_in_districts(district, data.HILLY_DISTRICTS), 0.15, 0.01)
    demo_p = np.where(_in_districts(district, data.CENTRAL_DISTRICTS), 0.15, 0.06)
    demo = (rng.random(n) < demo_p) * np.where(rng.random(n) < 0.2, 2, 1)
    tunnel = (rng.random(n) < _TUNNEL[sub]) * np.array(
        [_TUNNEL_KIND.get(k, 0) for k in _SUB_KEYS])[sub]
    return {
        "depth": np.where(depth >= 3, depth, nan),
        "fw_h": np.where(fw, fw_h, nan), "fw_s": fw_s,
        "crane_kn": np.where(crane, crane_kn, 0), "crane_h": crane_h,
        "lift_kn": np.where(lift & ~crane, lift_kn, 0),
        "scaffold": scaffold, "scaffold_h": scaffold_h,
        "curtain_h": np.where(building & (rng.random(n) < _CURTAIN[sub]), np.round(height, 1), nan),
        "steel_span": np.where(rng.random(n) < _STEEL[sub], np.round(rng.uniform(18, 60, n), 1), nan),
        "pile_d": np.where(building & (rng.random(n) < pile_p), np.round(rng.uniform(8, 22, n), 1),
                           nan),
        "demo": demo, "tunnel": tunnel,
    }


def _in_districts(district: np.ndarray, codes: tuple[str, ...]) -> np.ndarray:
    """Which entries of ``district`` (indexes into data.DISTRICTS) are one of ``codes``."""
    return np.isin(district, [i for i, d in enumerate(data.DISTRICTS) if d[0] in codes])


def _hazard_json(h: tuple) -> str:
    """One project's hazardous works as a JSON array (thresholds of 建办质〔2018〕31号)."""
    depth, fw_h, fw_s, crane_kn, crane_h, lift_kn, scaffold, scaffold_h, curtain_h, steel, pile, \
        demo, tunnel = h
    t, f = "true", "false"
    items = []
    if not isnan(depth):
        items.append(f'{{"category": "excavation", "beyond_scale": {t if depth >= 5 else f}, '
                     f'"description": "基坑开挖深度{depth}米", "depth_m": {depth}}}')
    if not isnan(fw_h):
        big = fw_h >= 8 or fw_s >= 18
        items.append(f'{{"category": "formwork", "beyond_scale": {t if big else f}, '
                     f'"description": "模板支撑工程，搭设高度{fw_h}米，跨度{fw_s}米", '
                     f'"height_m": {fw_h}, "span_m": {fw_s}}}')
    if crane_kn:
        big = crane_kn >= 300 or crane_h >= 200
        items.append(f'{{"category": "lifting", "beyond_scale": {t if big else f}, '
                     f'"description": "塔式起重机安装、拆卸，额定起重量{crane_kn}kN，'
                     f'安装高度{crane_h:.0f}米", '
                     f'"kind": "crane_installation", "load_kn": {crane_kn}, "height_m": {crane_h:.0f}}}')
    elif lift_kn:
        items.append(f'{{"category": "lifting", "beyond_scale": {t if lift_kn >= 100 else f}, '
                     f'"description": "非常规起重吊装，单件起吊重量{lift_kn}kN", '
                     f'"kind": "non_standard", "load_kn": {lift_kn}}}')
    if scaffold:
        big = scaffold_h >= (50, 150, 20)[scaffold - 1]
        items.append(f'{{"category": "scaffolding", "beyond_scale": {t if big else f}, '
                     f'"description": "{_SCAFFOLD_TEXT[scaffold]}{scaffold_h}米", '
                     f'"kind": "{_SCAFFOLD_KIND[scaffold]}", "height_m": {scaffold_h}}}')
    if not isnan(curtain_h):
        items.append(f'{{"category": "curtain_wall", "beyond_scale": {t if curtain_h >= 50 else f}, '
                     f'"description": "建筑幕墙安装，施工高度{curtain_h}米", "height_m": {curtain_h}}}')
    if not isnan(steel):
        items.append(f'{{"category": "steel_structure", "beyond_scale": {t if steel >= 36 else f}, '
                     f'"description": "钢结构安装，跨度{steel}米", "span_m": {steel}}}')
    if not isnan(pile):
        items.append(f'{{"category": "manual_piles", "beyond_scale": {t if pile >= 16 else f}, '
                     f'"description": "人工挖孔桩，开挖深度{pile}米", "depth_m": {pile}}}')
    if demo:
        text = "邻近历史文化风貌区的拆除工程" if demo == 2 else "既有建筑拆除工程"
        items.append(f'{{"category": "demolition", "beyond_scale": {t if demo == 2 else f}, '
                     f'"description": "{text}"}}')
    if tunnel:
        items.append(f'{{"category": "tunnelling", "beyond_scale": true, '
                     f'"description": "{_TUNNEL_TEXT[tunnel]}"}}')
    return "[" + ", ".join(items) + "]"


def _progress(stage: int, key: str, storeys: int, basement: int, elapsed: float) -> str:
    """形象进度 text for one project."""
    if stage < _PERMIT:
        return "前期阶段，尚未开工"
    if stage == _PERMIT:
        return "已取得施工许可，施工准备"
    if stage > _STARTED:
        return "已完成竣工验收" if stage == _FINISHED else "已竣工验收备案"
    phases = data.PHASES.get(key)
    if phases:
        return f"{phases[int(elapsed * len(phases))]}，累计完成约{int(elapsed * 100)}%"
    if elapsed < 0.10:
        return "桩基施工"
    if elapsed < 0.25:
        return f"地下室结构施工（地下{basement}层）" if basement else "基础施工"
    if elapsed < 0.65 and storeys > 0:
        return f"主体结构施工至{max(1, int(np.ceil(storeys * (elapsed - 0.25) / 0.40)))}层"
    if elapsed < 0.80:
        return "主体结构已封顶，二次结构及机电安装施工"
    return "装饰装修及机电安装施工" if elapsed < 0.95 else "室外附属工程施工，准备竣工验收"


def _pick_parties(rng: np.random.Generator, enterprises: list[SampleEnterprise], role: str,
                  n: int) -> tuple[list[str], np.ndarray]:
    """Credit codes of the enterprises with ``role`` and a Zipf-like choice of one per project."""
    codes = [e.credit_code for e in enterprises if role in e.roles]
    weights = 1.0 / np.arange(1, len(codes) + 1) ** 0.8
    return codes, rng.choice(len(codes), size=n, p=weights / weights.sum())


def _project_chunks(rng: np.random.Generator, n: int, enterprises: list[SampleEnterprise],
                    geoms: list[shapely.MultiPolygon], history: list[str]):
    """Yield the project rows in COPY text format, a chunk at a time; fill ``history`` lines.

    Generated text never holds a tab, newline or backslash, so it needs no COPY escaping.
    """
    if n == 0:
        return
    nd = len(data.DISTRICTS)
    district = rng.choice(nd, size=n, p=np.array([d[5] for d in data.DISTRICTS]))
    type_w = dict(zip(data.TYPES, data.TYPE_WEIGHTS))
    sub_p = np.array([type_w[s[0]] * s[3] for s in _SUB])
    sub = rng.choice(len(_SUB), size=n, p=sub_p / sub_p.sum())
    stage = rng.choice(_N_STAGES, size=n, p=np.array(data.STAGE_WEIGHTS) / sum(data.STAGE_WEIGHTS))
    sizes = np.array([s[6] for s in _SUB], dtype=float)[sub]
    short = rng.uniform(sizes[:, 0], sizes[:, 1])
    long = np.maximum(rng.uniform(sizes[:, 2], sizes[:, 3]), short)
    st_rng = np.array([s[4] for s in _SUB])[sub]
    bs_rng = np.array([s[5] for s in _SUB])[sub]
    storeys = rng.integers(st_rng[:, 0], st_rng[:, 1] + 1)
    basement = rng.integers(bs_rng[:, 0], bs_rng[:, 1] + 1)
    dur = np.array([s[8] for s in _SUB])[sub]
    planned_days = rng.integers(dur[:, 0], dur[:, 1] + 1)

    rects, area = _sites(rng, district, short, long, geoms)
    footprints = shapely.to_wkb(shapely.set_srid(shapely.multipolygons(rects[:, None]), STORAGE_SRID),
                                hex=True, include_srid=True).tolist()
    dates = _dates(rng, stage, planned_days)
    t = dates["t"]

    has_floors = np.array([s[4][1] > 0 or s[5][1] > 0 for s in _SUB])[sub]
    floor_area = np.round(area * rng.uniform(0.3, 0.55, n) * storeys + area * 0.85 * basement, 2)
    cost = np.array([s[7] for s in _SUB], dtype=float)[sub]
    noise = rng.lognormal(0.0, 0.2, n)
    investment = np.round(np.where(_INFRA[sub] & ~_BUILDINGS[sub],
                                   cost * rng.lognormal(0.0, 0.5, n),
                                   np.maximum(floor_area, area) * cost * noise / 1e4), 2)
    hz = _hazard_params(rng, sub, district, storeys, basement)
    hz_rows = list(zip(*(hz[k].tolist() for k in (
        "depth", "fw_h", "fw_s", "crane_kn", "crane_h", "lift_kn", "scaffold", "scaffold_h",
        "curtain_h", "steel_span", "pile_d", "demo", "tunnel"))))

    parties = {role: _pick_parties(rng, enterprises, role, n)
               for role in ("construction", "contractor", "supervision", "survey", "design")}
    names = _person_names(rng, 4000)
    pm = rng.integers(0, 2000, n).tolist()
    cs = (rng.integers(0, 2000, n) + 2000).tolist()
    serial = (rng.choice(999_999, size=n, replace=False) + 1).tolist()
    tmpl = rng.integers(0, 1 << 20, size=(n, 6)).tolist()  # template, place, roads, river, number

    # Permit serials: 01, 02, ... within each (district, permit day) among permitted projects.
    key = np.where(stage >= _PERMIT, district.astype(np.int64) * 1_000_000 + t[:, _PERMIT],
                   -1 - np.arange(n))
    order = np.lexsort((np.arange(n), key))
    ks = key[order]
    starts = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))

    lo, hi = int(t.min()), int(max(t.max(), _AS_OF))
    day_str = np.datetime_as_string(np.arange(lo, hi + 1).astype("datetime64[D]")).tolist()
    t_l = (t - lo).tolist()
    ps_l = (dates["planned_start"] - lo).tolist()
    pf_l = (dates["planned_finish"] - lo).tolist()
    district_l, sub_l, stage_l = district.tolist(), sub.tolist(), stage.tolist()
    storeys_l, basement_l = storeys.tolist(), basement.tolist()
    has_floors_l, fa_l, inv_l = has_floors.tolist(), floor_area.tolist(), investment.tolist()
    elapsed_l, rank_l = dates["elapsed"].tolist(), rank.tolist()
    party_l = {r: (c, i.tolist()) for r, (c, i) in parties.items()}

    chunk: list[str] = []
    for i in range(n):
        d, s, k = district_l[i], sub_l[i], stage_l[i]
        code_d, dname = data.DISTRICTS[d][0], data.DISTRICTS[d][1]
        ttype, skey, klh = _SUB[s][0], _SUB[s][1], _SUB[s][2]
        ti = t_l[i]
        places, roads = data.PLACES[code_d], data.ROADS[code_d]
        c = tmpl[i]
        year = int(day_str[ti[0]][:4])
        templates = data.NAMES[skey]
        r1 = roads[c[2] % len(roads)]
        r2 = roads[(c[2] + 1 + c[3] % (len(roads) - 1)) % len(roads)]
        name = templates[c[0] % len(templates)].format(
            d=dname, p=places[c[1] % len(places)], r=r1, r2=r2,
            v=data.RIVERS[c[4] % len(data.RIVERS)], a=data.DISTRICTS[d][6], y=year,
            n=1 + c[5] % 60, cn=data.CN_NUMBERS[c[5] % len(data.CN_NUMBERS)], m=1 + c[5] % 19)
        if _BUILDINGS[s]:
            address = f"杭州市{dname}{r1}{1 + c[5] % 999}号"
        else:
            address = f"杭州市{dname}{places[c[1] % len(places)]}，{r1}沿线"
        infra = _INFRA[s] and not _BUILDINGS[s]
        code = make_project_code(year, code_d, 48 if infra else 47,
                                 1 if klh or infra or ttype == "public_building" else 3, serial[i])
        permit = "\\N"
        if k >= _PERMIT:
            permit = make_permit_no(code_d, date.fromordinal(ti[_PERMIT] + lo + _EPOCH_ORDINAL),
                                    rank_l[i] + 1, 2 if infra else 1)
        unit = [party_l["construction"][0][party_l["construction"][1][i]]]
        for role, min_stage in (("contractor", 4), ("supervision", 4), ("survey", 1), ("design", 1)):
            codes, idx = party_l[role]
            unit.append(codes[idx[i]] if k >= min_stage else "\\N")
        chunk.append("\t".join((
            str(i + 1), code, name, address, code_d, permit, ttype, data.STAGES[k], klh or "\\N",
            *unit, f"{inv_l[i]:.2f}", f"{fa_l[i]:.2f}" if has_floors_l[i] else "\\N",
            str(storeys_l[i]) if has_floors_l[i] else "\\N",
            day_str[ps_l[i]], day_str[pf_l[i]],
            day_str[ti[_STARTED]] if k >= _STARTED else "\\N",
            day_str[ti[_FINISHED]] if k >= _FINISHED else "\\N",
            names[pm[i]] if k >= 4 else "\\N", names[cs[i]] if k >= 4 else "\\N",
            _progress(k, skey, storeys_l[i], basement_l[i], elapsed_l[i]),
            _hazard_json(hz_rows[i]) if k >= 2 else "[]",
            footprints[i], day_str[ti[k]] + " 17:30:00+08",
        )) + "\n")
        for j in range(k + 1):
            day = day_str[ti[j]]
            history.append(f"{i + 1}\t{data.STAGES[j]}\t{day}\t{data.STAGE_LABELS[j]}\t"
                           f"{day} 09:30:00+08\n")
        if len(chunk) == _CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def _drop_foreign_keys(cur: psycopg.Cursor) -> list[tuple[str, str, str, str]]:
    """Drop the foreign keys of ``project`` and ``project_stage_history``; return what to re-add.

    Definitions are read with ``search_path`` set to ``pg_catalog`` so that every name in them is
    schema-qualified.
    """
    (old,) = cur.execute("SELECT current_setting('search_path')").fetchall()[0]
    cur.execute("SELECT set_config('search_path', 'pg_catalog', true)")
    fks = cur.execute(_FK_QUERY).fetchall()
    cur.execute("SELECT set_config('search_path', %s, true)", (old,))
    for schema, table, name, _ in fks:
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(schema, table), sql.Identifier(name)))
    return fks


def load(conn: psycopg.Connection, *, projects: int = 300, seed: int = 1) -> dict:
    """Replace the ledger with the sample city, in one transaction.

    Truncates districts, enterprises, projects and stage history (``CASCADE``, so tables that
    reference projects are emptied too) and loads the ten Hangzhou districts, the sample
    enterprises, ``projects`` projects and their stage history with ``COPY``.  The foreign keys
    of ``project`` and ``project_stage_history`` are dropped for the load and added back (which
    validates them) before the end, so the caller needs to own those tables.  When ``conn`` is
    already inside a transaction the load runs in a savepoint and the caller commits.

    Parameters
    ----------
    conn : psycopg.Connection
        A connection to a migrated SiteWatch database.
    projects : int, default 300
        Number of projects.
    seed : int, default 1
        Seed of the ``PCG64`` generator; the same seed gives identical rows.

    Returns
    -------
    dict
        ``{"city": "杭州市", "districts": n, "enterprises": n, "projects": n, "seconds": s}``.
    """
    if projects < 0:
        raise ValueError("projects must be >= 0")
    started = time.perf_counter()
    rng = np.random.Generator(np.random.PCG64(seed))
    geoms = district_geometries()
    enterprises = generate_enterprises(rng)
    stamp = f"{data.AS_OF.isoformat()} 08:00:00+08"
    history: list[str] = []
    with conn.transaction():
        conn.execute(_TRUNCATE)
        with conn.cursor() as cur:
            fks = _drop_foreign_keys(cur)
            with cur.copy("COPY sitewatch.district (code, name, name_en, parent_code, "
                          "synthetic_boundary, boundary_note, geom) FROM STDIN") as copy:
                for row, geom in zip(data.DISTRICTS, geoms):
                    ewkb = shapely.to_wkb(shapely.set_srid(geom, STORAGE_SRID), hex=True,
                                          include_srid=True)
                    copy.write_row((row[0], row[1], row[2], data.CITY_CODE, True,
                                    data.BOUNDARY_NOTE, ewkb))
            with cur.copy("COPY sitewatch.enterprise (credit_code, name, roles, created_at) "
                          "FROM STDIN") as copy:
                for e in enterprises:
                    copy.write_row((e.credit_code, e.name, list(e.roles), stamp))
            # Small chunks: the server parses one while we format the next (a writer thread: slower).
            copy_sql = sql.SQL("COPY sitewatch.project ({}) FROM STDIN").format(
                sql.SQL(", ").join(map(sql.Identifier, _PROJECT_COLUMNS)))
            with cur.copy(copy_sql) as copy:
                for chunk in _project_chunks(rng, projects, enterprises, geoms, history):
                    copy.write(chunk)
            with cur.copy("COPY sitewatch.project_stage_history (project_id, stage, entered_on, "
                          "note, recorded_at) FROM STDIN") as copy:
                for start in range(0, len(history), _HISTORY_CHUNK):
                    copy.write("".join(history[start:start + _HISTORY_CHUNK]))
            # Ids were given explicitly; move the identity on so later inserts do not collide.
            cur.execute("SELECT setval(pg_get_serial_sequence('sitewatch.project', 'id'), "
                        "%s, %s)", (max(projects, 1), projects > 0))
            for schema, table, name, definition in fks:
                cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.Identifier(schema, table), sql.Identifier(name), sql.SQL(definition)))
            cur.execute("ANALYZE sitewatch.district, sitewatch.enterprise, sitewatch.project, "
                        "sitewatch.project_stage_history")
    seconds = time.perf_counter() - started
    logger.info("sample city: %d projects, %d stage rows in %.2f s (%.0f projects/s)", projects,
                len(history), seconds, projects / seconds if seconds else 0.0)
    return {"city": data.CITY_NAME, "districts": len(geoms), "enterprises": len(enterprises),
            "projects": projects, "seconds": seconds}


def project_rows(*, projects: int = 300, seed: int = 1) -> list[dict]:
    """The sample projects exactly as :func:`load` would write them, without a database.

    For scripts that place things in the sample city (``sample_ifc/make_models.py``).  Values are
    text as in the ``COPY`` stream (``None`` for NULL); ``footprint`` is hex EWKB (SRID 4490).
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    geoms = district_geometries()
    enterprises = generate_enterprises(rng)
    rows = []
    for chunk in _project_chunks(rng, projects, enterprises, geoms, []):
        for line in chunk.splitlines():
            values = [None if v == "\\N" else v for v in line.split("\t")]
            rows.append(dict(zip(_PROJECT_COLUMNS, values)))
    return rows
