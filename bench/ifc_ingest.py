"""IFC ingest against its floor: the whole pipeline vs. ifcopenshell.open + the geometry iterator.

For each file of ../shared/sample_ifc_external (and sample_ifc/*.ifc when present), measured in
one run on one machine and one database:

- **floor**: a fresh Python process that has already imported ifcopenshell times
  ``ifcopenshell.open`` + picking the elements + the geometry iterator with exactly the settings,
  kernel and threads the ingest uses (``bim.geometry.geometry_settings``), touching every
  vertex and face buffer.  Its memory is the growth of its peak private memory (VmHWM less
  file-backed and shared pages) over its private memory (RssAnon) after the imports.
- **ours**: the whole ingest as the CLI runs it (``bim.ingest.load_model``): hash and store the
  file, model + job rows, fork the parse child (memory ceiling, timeout), open, georeference,
  attributes, geometry, footprints, placement, GLB, the schedule hook, COPY of the elements and
  the single transaction, until the model reads ``done``.  The fork server is started before the
  clock (as in a running server).  Memory: the parse child's peak private memory over its
  private memory at start (``summary.resources``), i.e. what one parse adds to the
  already-imported process.  (A forked child's plain RSS also counts the server's shared library
  pages it faults back in, ~30 MB of OpenCASCADE/CGAL code whatever the file.)

Each cell is the median of ``--rounds`` runs (the machine has 2 cores and may be busy).
Targets: total ≤ 1.5 × floor, peak RSS growth ≤ 12 × the file size.  Absolute RSS is printed
too: a Python process with ifcopenshell loaded starts near 60–110 MB whatever the file, so the
12× target is read on the private-memory growth, which is what scales with the file.

    .venv/bin/python bench/ifc_ingest.py [--rounds 3] [--files a.ifc b.ifc] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import BenchDatabase, print_table  # noqa: E402

SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))
RATIO_TARGET = 1.5
RSS_TARGET = 12.0
STAGES = ("open_s", "georef_s", "attributes_s", "geometry_s", "placement_s", "write_s", "schedule_s")


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def floor(path: str) -> None:
    """Child mode: time open + iterator, print JSON (seconds, rss growth MB, peak MB)."""
    import ifcopenshell
    import numpy as np

    from bim.elements import get_elements
    from bim.geometry import iterate_shapes

    base = _status_kb("RssAnon")
    t0 = time.perf_counter()
    model = ifcopenshell.open(path)
    shapes = 0
    for shape in iterate_shapes(model, elements=get_elements(model)):
        np.asarray(shape.vertices).sum()
        np.asarray(shape.faces).max(initial=0)
        shapes += 1
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    private = peak - _status_kb("RssFile") - _status_kb("RssShmem")
    print(json.dumps({"seconds": seconds, "shapes": shapes, "growth_mb": (private - base) / 1024,
                      "peak_mb": peak / 1024}))


def measure_floor(path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--floor", str(path)], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def files(selected: list[str] | None) -> list[Path]:
    found = sorted((SHARED / "sample_ifc_external").glob("*.ifc"))
    found += sorted((ROOT / "sample_ifc").glob("*.ifc"))
    if selected:
        found = [p for p in found if p.name in selected]
    return found


class Database(BenchDatabase):
    """The shared bench database (fsync off), migrated on start."""

    def __init__(self, data: Path) -> None:
        super().__init__(data, extra_options="-c fsync=off")

    def start(self) -> str:
        from spatial import db

        url = super().start()
        with db.connect(url) as conn:
            db.migrate(conn)
        return url


def place_of(path: Path) -> tuple[float, float]:
    """Where the file says it is (so no 'suspect' detour), Hangzhou when it says nothing."""
    import ifcopenshell

    from bim.georef import auto_get_placement

    return auto_get_placement(ifcopenshell.open(str(path)),
                              fallback_lonlat=(120.15, 30.28)).origin_lonlat


def measure_ours(conn, url: str, path: Path, data: Path, code: str) -> dict:
    from bim.ingest import load_model
    from bim.settings import IngestSettings

    lon, lat = place_of(path)
    d = 0.0008
    conn.execute(
        "INSERT INTO sitewatch.project (code, name, district_code, type, stage, footprint)"
        " VALUES (%s, 'bench', '330106', 'housing', 'under_construction',"
        " ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4490)))",
        (code, lon - d, lat - d, lon + d, lat + d))
    t0 = time.perf_counter()
    model = load_model(conn, url=url, project_code=code, path=path, data_dir=data,
                       settings=IngestSettings(worker=False))
    seconds = time.perf_counter() - t0
    if model["status"] != "done":
        raise RuntimeError(f"{path.name}: {model['reason']}")
    res = model["summary"].get("resources", {})
    return {"seconds": seconds, "elements": model["summary"]["elements"],
            "growth_mb": res.get("peak_private_mb", 0) - res.get("private_at_start_mb", 0),
            "peak_mb": res.get("peak_rss_mb", 0), "timings": model["summary"].get("timings", {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", nargs="*", default=None, help="file names to run (default all)")
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    if args.floor:
        floor(args.floor)
        return

    import psycopg

    from bench._common import raise_on_sigterm
    from bim.ingest import warm_up

    raise_on_sigterm()
    paths = files(args.files)
    if not paths:
        sys.exit(f"no IFC files found under {SHARED / 'sample_ifc_external'} or sample_ifc/")
    data = Path(tempfile.mkdtemp(prefix="sitewatch-bench-ifc-"))
    data.chmod(0o755)
    database = Database(data)
    rows, verdicts, stages = [], [], []
    try:
        url = database.start()
        warm_up()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO sitewatch.district (code, name, geom) VALUES ('330106',"
                         " 'bench', ST_Multi(ST_MakeEnvelope(-180, -85, 180, 85, 4490)))")
            for path in paths:
                size_mb = path.stat().st_size / 1024 / 1024
                floors, ours = [], []
                for _ in range(args.rounds):   # interleaved, so load changes hit both alike
                    floors.append(measure_floor(path))
                    ours.append(measure_ours(conn, url, path, data, f"B{uuid.uuid4().hex[:10]}"))
                f_s = statistics.median(x["seconds"] for x in floors)
                o_s = statistics.median(x["seconds"] for x in ours)
                f_g = statistics.median(x["growth_mb"] for x in floors)
                o_g = statistics.median(x["growth_mb"] for x in ours)
                o_peak = statistics.median(x["peak_mb"] for x in ours)
                n = ours[0]["elements"]
                ratio = o_s / f_s if f_s > 0 else float("nan")
                rss_x = o_g / size_mb if size_mb > 0 else float("nan")
                rows.append([path.name, round(size_mb, 2), n, f_s, o_s, ratio,
                             n / o_s if o_s else float("nan"), f_g, o_g, o_peak, rss_x])
                stage = {k: statistics.median(x["timings"].get(k, 0.0) for x in ours) * 1000
                         for k in STAGES}
                inside = sum(v for k, v in stage.items() if k != "schedule_s")
                stages.append([path.name] + [round(stage[k], 1) for k in STAGES]
                              + [round(o_s * 1000 - inside, 1)])
                verdicts.append((path.name, ratio, rss_x, o_s - f_s, f_g / size_mb))
    finally:
        database.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(data, ignore_errors=True)

    print(f"\nIFC ingest vs floor (median of {args.rounds}; {os.cpu_count()} CPUs)\n")
    print_table(["file", "MB", "elements", "floor s", "ours s", "ratio", "elements/s",
                 "floor mem+ MB", "ours mem+ MB", "ours peak RSS MB", "mem+/file"], rows)
    print("\nWhere our time goes (ms, medians; write includes the schedule hook; 'rest' = submit,"
          " fork, connections, job bookkeeping)\n")
    print_table(["file", *(k.removesuffix("_s") for k in STAGES), "rest"], stages)
    print()
    total_floor = sum(r[3] for r in rows)
    total_ours = sum(r[4] for r in rows)
    for name, ratio, rss_x, extra, fx in verdicts:
        print(f"{'PASS' if ratio <= RATIO_TARGET else 'FAIL'} time {name}: {ratio:.2f}x floor "
              f"(target <= {RATIO_TARGET}x; +{extra * 1000:.0f} ms)")
        print(f"{'PASS' if rss_x <= RSS_TARGET else 'FAIL'} memory {name}: private memory growth "
              f"{rss_x:.1f}x file size (target <= {RSS_TARGET:g}x; floor {fx:.1f}x)")
    overall = total_ours / total_floor if total_floor else float("nan")
    print(f"{'PASS' if overall <= RATIO_TARGET else 'FAIL'} time all files: {total_ours:.2f} s vs "
          f"floor {total_floor:.2f} s = {overall:.2f}x")


if __name__ == "__main__":
    main()
