"""Progress and deviation at scale: JSON summary, XLSX report and progress ingest through the API.

Run::

    .venv/bin/python bench/deviation.py [--tasks 5000] [--elements 50000] [--reports 200000]

One database (a private cluster in a temporary SITEWATCH_DATA, or a scratch database on
SITEWATCH_DATABASE_URL) with one project: a schedule of N tasks (one summary per 20 tasks, the
rest leaves over two years), E elements spread over the leaves, then R reports posted through
the Flask app (in-process test client, batches of 10,000: the HTTP parsing, auth, validation and
COPY paths, not the socket).  Then the deviation at a mid-project date as JSON (p50 of 5) and as
XLSX.  Targets (issue 4): JSON ≤ 1 s, XLSX ≤ 5 s, ingest ≥ 5,000 reports/s.  Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    BenchDatabase,
    fetch,
    print_table,
    print_targets,
    start_sitewatch,
)

TZ = ZoneInfo("Asia/Shanghai")
CODE = "BENCH-DEV-1"


def build(conn, n_tasks: int, n_elements: int) -> list[str]:
    conn.execute("INSERT INTO sitewatch.district (code, name, geom) VALUES ('330106', '西湖区',"
                 " ST_Multi(ST_Expand(ST_SetSRID(ST_MakePoint(120.1, 30.27), 4490), 0.2)))")
    pid = conn.execute(
        "INSERT INTO sitewatch.project (code, name, district_code, type, stage, footprint)"
        " VALUES (%s, 'bench', '330106', 'housing', 'under_construction',"
        " ST_Multi(ST_Expand(ST_SetSRID(ST_MakePoint(120.1, 30.27), 4490), 0.001))) RETURNING id",
        (CODE,)).fetchone()[0]
    model = conn.execute(
        "INSERT INTO sitewatch.bim_model (project_id, version, sha256, file_size, status)"
        " VALUES (%s, 1, %s, 0, 'done') RETURNING id",
        (pid, hashlib.sha256(b"bench").hexdigest())).fetchone()[0]
    schedule = conn.execute("INSERT INTO sitewatch.schedule (model_id, source, purpose)"
                            " VALUES (%s, 'ifc', 'planned') RETURNING id", (model,)).fetchone()[0]
    start = datetime(2025, 1, 1, tzinfo=TZ)
    leaves, parent = [], None
    for i in range(n_tasks):
        if i % 20 == 0:
            parent = conn.execute(
                "INSERT INTO sitewatch.task (schedule_id, identification, name, planned_start,"
                " planned_finish) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (schedule, f"S{i}", f"summary {i}", start, start + timedelta(days=730))
            ).fetchone()[0]
            continue
        s = start + timedelta(days=(i * 7) % 700)
        leaves.append(conn.execute(
            "INSERT INTO sitewatch.task (schedule_id, parent_id, identification, name,"
            " planned_start, planned_finish) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (schedule, parent, f"T{i}", f"task {i}", s, s + timedelta(days=5 + i % 25))
        ).fetchone()[0])
    gids = [f"B{i:021d}" for i in range(n_elements)]
    with conn.cursor() as cur, cur.copy(
            "COPY sitewatch.bim_element (model_id, global_id, ifc_class, quantities) FROM STDIN"
    ) as copy:
        for i, g in enumerate(gids):
            copy.write_row((model, g, "IfcWall", f'{{"volume": {1 + i % 9}}}'))
    ids = conn.execute("SELECT id FROM sitewatch.bim_element WHERE model_id = %s ORDER BY id",
                       (model,)).fetchall()
    with conn.cursor() as cur, cur.copy(
            "COPY sitewatch.task_element (task_id, element_id) FROM STDIN") as copy:
        for i, (eid,) in enumerate(ids):
            copy.write_row((leaves[i % len(leaves)], eid))
    conn.commit()
    return [f"T{i}" for i in range(n_tasks) if i % 20] + gids


def settled(conn, quiet_s: float = 3.0, timeout_s: float = 120.0) -> None:
    """Wait until the servers' progress refreshers have stored the project and gone quiet."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        age = conn.execute(
            "SELECT extract(epoch FROM now() - max(computed_at)) FROM sitewatch.project_progress"
        ).fetchone()[0]
        if age is not None and age >= quiet_s:
            return
        time.sleep(0.5)


def post(base: str, token: str, batch: list[dict]) -> None:
    """One batch as a site app sends it; anything but 200 stops the benchmark."""
    request = urllib.request.Request(
        f"{base}/api/v1/projects/{CODE}/progress", method="POST",
        data=json.dumps({"reports": batch}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=300) as response:
        assert response.status == 200, response.read()[:300]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--elements", type=int, default=50000)
    parser.add_argument("--reports", type=int, default=200000)
    args = parser.parse_args()

    from api.settings import AppSettings
    from spatial import db, tokens

    data = Path(tempfile.mkdtemp(prefix="sitewatch-bench-dev-"))
    data.chmod(0o755)
    database = BenchDatabase(data, extra_options="-c fsync=off")
    server = None
    try:
        url = database.start()
        with db.connect(url) as conn:
            db.migrate(conn)
            names = build(conn, args.tasks, args.elements)
            token = tokens.create(conn, role="admin")
        workers, threads = AppSettings().worker_layout()
        server = start_sitewatch(url, data, workers, threads)
        base = server.base_url
        n_tasks = sum(1 for n in names if n.startswith("T"))
        reports = []
        for i in range(args.reports):
            name = names[i % len(names)]
            day = datetime(2025, 1, 1) + timedelta(days=i % 600)
            row = {"client_id": f"r{i}", "percent_complete": (i * 37) % 101,
                   "reported_at": day.isoformat()}
            if i % len(names) < n_tasks:
                row["task"] = name
            else:
                row["elements"] = [name]
            reports.append(row)
        half = len(reports) // 2
        one = [reports[k:k + 10_000] for k in range(0, half, 10_000)]
        many = [reports[k:k + 500] for k in range(half, len(reports), 500)]
        t0 = time.perf_counter()
        for batch in one:
            post(base, token, batch)
        one_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda b: post(base, token, b), many))
        many_s = time.perf_counter() - t0
        ingest = one_s + many_s
        with db.connect(url, autocommit=True) as conn:
            settled(conn)       # the refreshers' recomputation after the posts is part of ingest
            conn.execute("VACUUM ANALYZE")
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            status, _ = fetch(f"{base}/api/v1/projects/{CODE}/deviation?date=2025-12-31")
            assert status == 200
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        status, body = fetch(f"{base}/api/v1/projects/{CODE}/deviation?date=2025-12-31&format=xlsx")
        assert status == 200 and body[:2] == b"PK"
        xlsx = time.perf_counter() - t0
    finally:
        if server is not None:
            server.stop()
        database.stop()
    rate = args.reports / ingest
    p50 = statistics.median(times)
    print_table(["measure", "value", "target"], [
        ["deviation JSON p50 (s)", f"{p50:.3f}", "≤ 1"],
        ["deviation XLSX (s)", f"{xlsx:.3f}", "≤ 5"],
        ["ingest, 1 client × 10,000/batch (reports/s)", f"{half / one_s:,.0f}", ""],
        ["ingest, 8 clients × 500/batch (reports/s)", f"{(len(reports) - half) / many_s:,.0f}", ""],
        ["ingest, all (reports/s)", f"{rate:,.0f}", "≥ 5,000"],
    ])
    print_targets([f"{'PASS' if p50 <= 1 else 'FAIL'} JSON p50 {p50:.3f} s ≤ 1 s",
                   f"{'PASS' if xlsx <= 5 else 'FAIL'} XLSX {xlsx:.3f} s ≤ 5 s",
                   f"{'PASS' if rate >= 5000 else 'FAIL'} ingest {rate:,.0f}/s ≥ 5,000/s"])


if __name__ == "__main__":
    main()
