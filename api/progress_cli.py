"""``sitewatch progress import`` and ``sitewatch report deviation`` (issue 4)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from api.settings import Settings
from spatial.errors import ValidationFailed


def register(main: click.Group, settings_fn: Callable[[], Settings], connect: Callable) -> None:
    """Add the progress commands to the ``sitewatch`` group."""

    @main.group("progress")
    def progress_group() -> None:
        """Progress reported from site."""

    @progress_group.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--project", "project_code", required=True, help="Project code.")
    @click.option("--tz", "tz_name", default="Asia/Shanghai", show_default=True,
                  help="Time zone of an MS Project file's local dates (as for schedule import).")
    def progress_import(file: Path, project_code: str, tz_name: str) -> None:
        """Record actuals from FILE, whose kind is told by its content (docs/progress.md):

        \b
        - MS Project XML (MSPDI, root <Project>): per leaf task ActualStart, ActualFinish,
          PercentComplete / PhysicalPercentComplete;
        - an as-planned/as-built event log (a CSV with an "Element on time or not" column):
          each element done, its finish derived from the label and its tasks' planned finishes;
        - any other CSV: task or element GlobalId, status/percent, dates.
        """
        from bim.progress import record_reports

        kind = _file_kind(file)
        if kind == "msproject":
            from bim.progress.read_actuals_msproject import read_actuals_msproject

            try:
                tz = ZoneInfo(tz_name)
            except (KeyError, ValueError) as exc:
                raise click.BadParameter(f"unknown time zone {tz_name!r}",
                                         param_hint="--tz") from exc
            try:
                reports = read_actuals_msproject(file, tz=tz)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from exc
        elif kind == "csv":
            from bim.progress.read_actuals_csv import read_actuals_csv

            reports = read_actuals_csv(file)
        with connect(settings_fn()) as conn:
            try:
                if kind == "eventlog":
                    from bim.progress.read_eventlog import read_eventlog

                    try:
                        reports = read_eventlog(conn, project_code, file)
                    except ValueError as exc:
                        raise click.UsageError(str(exc)) from exc
                result = record_reports(conn, project_code, reports, max_batch=None)  # all or nothing
            except ValidationFailed as exc:
                click.echo(f"rejected, nothing imported: {exc}", err=True)
                for err in exc.errors:
                    if kind == "csv":
                        row = err["row"] + 2 if isinstance(err["row"], int) else err["row"]
                        click.echo(f"  line {row}: {err['field']}: {err['reason']}", err=True)
                    else:
                        click.echo(f"  report {err['row']}: {err['field']}: {err['reason']}",
                                   err=True)
                sys.exit(1)
        click.echo(json.dumps(result, ensure_ascii=False))

    @progress_group.command("cards")
    @click.option("--project", "project_code", required=True, help="Project code.")
    @click.option("--through", default=None, help="Check month ends up to YYYY-MM-DD (today).")
    def progress_cards(project_code: str, through: str | None) -> None:
        """Run the monthly alert-card (红黄牌) checks not yet run; print them as JSON."""
        from bim.progress import check_cards

        try:
            last = date.fromisoformat(through) if through else \
                datetime.now(ZoneInfo("Asia/Shanghai")).date()
        except ValueError as exc:
            raise click.BadParameter("must be YYYY-MM-DD", param_hint="--through") from exc
        with connect(settings_fn()) as conn:
            click.echo(json.dumps(check_cards(conn, project_code, last), ensure_ascii=False))

    @main.group("report")
    def report_group() -> None:
        """Reports for people."""

    @report_group.command("deviation")
    @click.option("--project", "project_code", required=True, help="Project code.")
    @click.option("--date", "status_date", default=None, help="Status date YYYY-MM-DD (today).")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json", "html", "xlsx"]),
                  required=True)
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
    def report_deviation(project_code: str, status_date: str | None, fmt: str, out: Path) -> None:
        """Write the planned-vs-earned deviation report (docs/progress.md)."""
        from bim.progress import compute
        from bim.progress.write_csv import write_csv

        try:
            day = date.fromisoformat(status_date) if status_date else \
                datetime.now(ZoneInfo("Asia/Shanghai")).date()
        except ValueError as exc:
            raise click.BadParameter("must be YYYY-MM-DD", param_hint="--date") from exc
        with connect(settings_fn()) as conn:
            result = compute(conn, project_code, day, history=fmt == "html")
        if fmt == "csv":
            out.write_text(write_csv(result), encoding="utf-8", newline="")
        elif fmt == "html":
            from bim.progress.write_html import write_html

            out.write_text(write_html(result), encoding="utf-8")
        elif fmt == "xlsx":
            from bim.progress.write_xlsx import write_xlsx

            out.write_bytes(write_xlsx(result))
        else:
            out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        click.echo(json.dumps({"out": str(out), **{k: result["summary"].get(k) for k in
                                                   ("pv", "ev", "spi", "spi_t")}}))


def _file_kind(file: Path) -> str:
    """``msproject`` (XML whose root element is <Project>), ``eventlog`` (a CSV whose header has
    an "Element on time or not" column) or ``csv``."""
    import xml.etree.ElementTree as ET

    with open(file, "rb") as handle:
        head = handle.read(65536)
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        root: ET.Element | None = None
        try:
            _, root = next(ET.iterparse(io.BytesIO(text), events=("start",)))
        except StopIteration:
            pass
        except ET.ParseError as exc:
            raise click.UsageError(f"{file}: not a well-formed XML file ({exc})") from exc
        if root is None or root.tag.rsplit("}", 1)[-1] != "Project":
            tag = root.tag if root is not None else None
            raise click.UsageError(f"{file}: XML whose root element is {tag!r}, not an MS Project "
                                   "XML (MSPDI) <Project>")
        return "msproject"
    if b"\x00" in head or head.startswith(b"PK"):
        raise click.UsageError(f"{file}: neither CSV nor MS Project XML")
    first = text.decode("utf-8", errors="replace").splitlines()[:1] or [""]
    header = next(csv.reader(first, delimiter=max(",;\t", key=first[0].count)), [])
    if any(h.strip().casefold() == "element on time or not" for h in header):
        return "eventlog"
    return "csv"
