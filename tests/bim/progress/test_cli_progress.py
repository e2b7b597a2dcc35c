"""``sitewatch progress import`` and ``sitewatch report deviation``, run as a user runs them."""

from __future__ import annotations

import csv
import io

from tests.api.test_cli import run
from tests.bim.progress.conftest import build_project, gid


def test_import_csv_then_report(progress_url, pconn, tmp_path):
    project = build_project(pconn)
    actuals = tmp_path / "actuals.csv"
    actuals.write_text(
        "\ufefftask,element,percent_complete,actual_start,actual_finish,date\n"
        "A,,,2026-03-01,2026-03-10,\n"                        # done (finish given)
        f",{gid('E4')},,,2026-03-12,\n"                       # element E4 done
        "B,,20,2026-03-11,,2026-03-15\n", encoding="utf-8")
    first = run(progress_url, tmp_path, "progress", "import", str(actuals),
                "--project", project["code"])
    assert first.returncode == 0, first.stderr
    assert '"accepted": 3' in first.stdout
    again = run(progress_url, tmp_path, "progress", "import", str(actuals),
                "--project", project["code"])
    assert '"accepted": 0' in again.stdout            # same rows, same client_ids

    bad = tmp_path / "bad.csv"
    bad.write_text("task,percent_complete,date\nA,50,2026-03-02\nZZ,10,2026-03-02\n")
    rejected = run(progress_url, tmp_path, "progress", "import", str(bad),
                   "--project", project["code"])
    assert rejected.returncode == 1 and "line 3: task" in rejected.stderr

    out = tmp_path / "deviation.csv"
    done = run(progress_url, tmp_path, "report", "deviation", "--project", project["code"],
               "--date", "2026-03-15", "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    column = rows[0].index("状态 status")
    status = {r[0]: r[column] for r in rows[1:]}
    # As in test_compute: A done, B 20 % of planned 50 % behind, C 7/10 by volume vs 50 % ahead.
    assert status == {"S1": "behind", "A": "done", "B": "behind", "C": "ahead",
                      "M": "not_started"}
    xlsx = run(progress_url, tmp_path, "report", "deviation", "--project", project["code"],
               "--date", "2026-03-15", "--format", "xlsx", "--out", str(tmp_path / "r.xlsx"))
    assert xlsx.returncode == 0 and (tmp_path / "r.xlsx").read_bytes()[:2] == b"PK"
    html = run(progress_url, tmp_path, "report", "deviation", "--project", project["code"],
               "--date", "2026-03-15", "--format", "html", "--out", str(tmp_path / "r.html"))
    assert html.returncode == 0 and "进度偏差报告" in (tmp_path / "r.html").read_text("utf-8")


def test_cards_command(progress_url, pconn, tmp_path):
    project = build_project(pconn)
    done = run(progress_url, tmp_path, "progress", "cards", "--project", project["code"],
               "--through", "2026-04-30")
    assert done.returncode == 0, done.stderr
    # M (due 03-26) not done: yellow at 03-31 and 04-30
    assert '"card": "yellow"' in done.stdout and '"2026-04-30"' in done.stdout
