"""IFC ingest against its floor: the whole pipeline vs. ifcopenshell.open + the geometry iterator.

For each file of ../shared/sample_ifc_external (and sample_ifc/*.ifc when present), measured in
one run on one machine and one database:

- **floor**: a fresh Python process that has already imported ifcopenshell times
  ``ifcopenshell.open`` + picking the elements + the geometry iterator with exactly the settings,
  kernel and number of kernel threads the ingest uses (``bim.geometry.geometry_settings``,
  ``SITEWATCH_IFC_THREADS`` or the default, printed in the title), touching every vertex and
  face buffer.
- **ours**: the whole ingest as the CLI runs it (``bim.ingest.load_model``): hash and store the
  file, model + job rows, hand the job to a parse child (memory ceiling, timeout), open,
  georeference, attributes, geometry (for models of 64 elements or more the iterator runs in a
  helper process forked from the child, with the same settings and threads, while the child
  does the Python work), footprints, placement, GLB, the schedule hook, COPY of the elements and
  the single transaction, until the model reads ``done``.  What a running server has before a
  file arrives is set up before the clock: the fork server (imports) and one parse child forked
  and waiting for its job.

Memory, measured the same way for both: the growth of the process's peak private memory
(VmHWM less file-backed and shared pages) over its private memory (RssAnon) when the work
starts -- for the floor after the imports, for ours in the parse child when its job arrives,
plus the geometry helper's own growth measured likewise (``summary.resources.parse_private_mb``;
a sum of two peaks, so an upper bound).  Pages shared with the fork server (imported libraries)
are not counted for either: a Python process with ifcopenshell loaded holds 60-110 MB whatever
the file, so for a 3 KB file no process can meet 12x its size in absolute RSS.  The table prints
the floor's own growth/size next to ours, and a memory FAIL where the floor is over the target
as well says so ("floor over too").

Each cell is the median of ``--rounds`` runs (the machine has 2 cores and may be busy; floor
and ours are interleaved so load changes hit both alike).  Targets: ours <= 1.5 x floor in wall
time, private memory growth <= 12 x the file size.  The last row adds all files up.

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


def floor(path: str, threads: int) -> None:
    """Child mode: time open + iterator, print JSON (seconds, rss growth MB, peak MB)."""
    import ifcopenshell
    import numpy as np

    from bim.elements import get_elements
    from bim.geometry import iterate_shapes

    base = _status_kb("RssAnon")
    t0 = time.perf_counter()
    model = ifcopenshell.open(path)
    shapes = 0
    for shape in iterate_shapes(model, elements=get_elements(model), threads=threads):
        np.asarray(shape.vertices).sum()
        np.asarray(shape.faces).max(initial=0)
        shapes += 1
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    private = peak - _status_kb("RssFile") - _status_kb("RssShmem")
    print(json.dumps({"seconds": seconds, "shapes": shapes, "growth_mb": (private - base) / 1024,
                      "peak_mb": peak / 1024}))


def measure_floor(path: Path, threads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--floor", str(path), "--threads",
                          str(threads)], capture_output=True, text=True, check=True, cwd=ROOT)
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


def measure_ours(conn, url: str, path: Path, data: Path, code: str, threads: int) -> dict:
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
                       settings=IngestSettings(worker=False, threads=threads))
    seconds = time.perf_counter() - t0
    if model["status"] != "done":
        raise RuntimeError(f"{path.name}: {model['reason']}")
    res = model["summary"].get("resources", {})
    return {"seconds": seconds, "elements": model["summary"]["elements"],
            "growth_mb": res["parse_private_mb"], "peak_mb": res.get("peak_rss_mb", 0),
            "timings": model["summary"].get("timings", {})}


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "FAIL"


def memory_verdict(ours: float, floor: float) -> str:
    if ours <= RSS_TARGET:
        return "PASS"
    return "FAIL (floor over too)" if floor > RSS_TARGET else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", nargs="*", default=None, help="file names to run (default all)")
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    if args.floor:
        floor(args.floor, args.threads)
        return

    import psycopg

    from bench._common import raise_on_sigterm
    from bim.geometry.iterate_shapes import default_threads
    from bim.ingest import warm_up
    from bim.settings import IngestSettings

    raise_on_sigterm()
    paths = files(args.files)
    if not paths:
        sys.exit(f"no IFC files found under {SHARED / 'sample_ifc_external'} or sample_ifc/")
    threads = IngestSettings().threads or default_threads()   # the same for floor and ours
    data = Path(tempfile.mkdtemp(prefix="sitewatch-bench-ifc-"))
    data.chmod(0o755)
    database = Database(data)
    rows, stages, totals = [], [], {"mb": 0.0, "n": 0, "f_s": 0.0, "o_s": 0.0, "f_g": 0.0,
                                    "o_g": 0.0}
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
                    floors.append(measure_floor(path, threads))
                    ours.append(measure_ours(conn, url, path, data, f"B{uuid.uuid4().hex[:10]}",
                                             threads))
                f_s = statistics.median(x["seconds"] for x in floors)
                o_s = statistics.median(x["seconds"] for x in ours)
                f_g = statistics.median(x["growth_mb"] for x in floors)
                o_g = statistics.median(x["growth_mb"] for x in ours)
                f_peak = statistics.median(x["peak_mb"] for x in floors)
                o_peak = statistics.median(x["peak_mb"] for x in ours)
                n = ours[0]["elements"]
                ratio = o_s / f_s if f_s > 0 else float("nan")
                o_x, f_x = o_g / size_mb, f_g / size_mb
                rows.append([path.name, round(size_mb * 1024), n, f_s, o_s, ratio,
                             verdict(ratio, RATIO_TARGET), n / o_s if o_s else float("nan"),
                             f_g, o_g, f_x, o_x, memory_verdict(o_x, f_x), f_peak, o_peak])
                for key, value in (("mb", size_mb), ("n", n), ("f_s", f_s), ("o_s", o_s),
                                   ("f_g", f_g), ("o_g", o_g)):
                    totals[key] += value
                stage = {k: statistics.median(x["timings"].get(k, 0.0) for x in ours) * 1000
                         for k in STAGES}
                inside = sum(v for k, v in stage.items() if k != "schedule_s")
                stages.append([path.name] + [round(stage[k], 1) for k in STAGES]
                              + [round(o_s * 1000 - inside, 1)])
    finally:
        database.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(data, ignore_errors=True)

    t_ratio = totals["o_s"] / totals["f_s"] if totals["f_s"] else float("nan")
    t_fx, t_ox = totals["f_g"] / totals["mb"], totals["o_g"] / totals["mb"]
    rows.append([f"all {len(paths)} files", round(totals["mb"] * 1024), totals["n"], totals["f_s"],
                 totals["o_s"], t_ratio, verdict(t_ratio, RATIO_TARGET),
                 totals["n"] / totals["o_s"] if totals["o_s"] else float("nan"), totals["f_g"],
                 totals["o_g"], t_fx, t_ox, memory_verdict(t_ox, t_fx), float("nan"),
                 float("nan")])
    print(f"\nIFC ingest vs floor (median of {args.rounds}; {os.cpu_count()} CPUs; {threads} "
          f"kernel thread{'s' if threads > 1 else ''} for both; targets: time <= "
          f"{RATIO_TARGET}x floor, memory growth <= {RSS_TARGET:g}x file size)\n")
    print_table(["file", "KB", "elements", "floor s", "ours s", "ratio", "time",
                 "elements/s", "floor mem+ MB", "ours mem+ MB", "floor mem+/MB", "ours mem+/MB",
                 "memory", "floor peak RSS MB", "ours peak RSS MB"], rows)
    print("\nWhere our time goes (ms, medians; write includes the schedule hook; geometry includes"
          " waiting for the helper; 'rest' = submit, job hand-over, connections, job bookkeeping)"
          "\n")
    print_table(["file", *(k.removesuffix("_s") for k in STAGES), "rest"], stages)
    print()
    for row in rows:
        name, ratio, o_x, f_x = row[0], row[5], row[11], row[10]
        print(f"{row[6]} time {name}: {ratio:.2f}x floor (target <= {RATIO_TARGET}x; "
              f"{(row[4] - row[3]) * 1000:+.0f} ms)")
        print(f"{row[12].split()[0]} memory {name}: private memory growth {o_x:.1f}x file size "
              f"(target <= {RSS_TARGET:g}x; floor {f_x:.1f}x"
              f"{', over the target itself' if f_x > RSS_TARGET else ''})")


if __name__ == "__main__":
    main()
