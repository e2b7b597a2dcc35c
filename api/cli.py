"""The ``sitewatch`` command line (names as in DESIGN.md)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from api.settings import Settings
from spatial import cluster, db
from spatial.errors import ClusterError, SpatialError, ValidationFailed

logger = logging.getLogger("sitewatch")


def _settings() -> Settings:
    return Settings()


def _connect(settings: Settings, *, migrate: bool = True):
    url = db.resolve_url(settings.database, start=True)
    conn = db.connect(url)
    if migrate:
        db.migrate(conn)
    return conn


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """SiteWatch: GIS + BIM construction supervision (工程建设监管)."""
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pygeoapi", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# -- database --------------------------------------------------------------------------------------

@main.group("db")
def db_group() -> None:
    """The private PostGIS cluster (or SITEWATCH_DATABASE_URL)."""


@db_group.command("start")
def db_start() -> None:
    """Start (or reuse) the private cluster and print its URL."""
    settings = _settings()
    if settings.database.database_url:
        click.echo("SITEWATCH_DATABASE_URL is set: using that server, nothing to start.", err=True)
        click.echo(settings.database.database_url)
        return
    click.echo(cluster.start(settings.database))


@db_group.command("stop")
def db_stop() -> None:
    """Stop the private cluster."""
    settings = _settings()
    if settings.database.database_url:
        click.echo("SITEWATCH_DATABASE_URL is set: nothing of ours to stop.", err=True)
        return
    click.echo("stopped" if cluster.stop(settings.database) else "not running")


@db_group.command("url")
def db_url() -> None:
    """Print the connection URL (psql, ogr2ogr PG:, QGIS)."""
    click.echo(db.resolve_url(_settings().database, start=False))


@db_group.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (idempotent)."""
    with _connect(_settings(), migrate=False) as conn:
        applied = db.migrate(conn)
        click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


# -- sample city -----------------------------------------------------------------------------------

@main.group("sample")
def sample_group() -> None:
    """Deterministic sample data."""


@sample_group.command("city")
@click.option("--projects", "n_projects", type=click.IntRange(0, 2_000_000), default=300,
              show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--models/--no-models", default=True, show_default=True,
              help="Also ingest the sample IFC models (sample_ifc/) into their project.")
def sample_city(n_projects: int, seed: int, models: bool) -> None:
    """Load the sample city (Hangzhou districts, enterprises, projects), replacing the ledger."""
    settings = _settings()
    with _connect(settings) as conn:
        summary = _load_sample(conn, settings, projects=n_projects, seed=seed, models=models)
    click.echo(json.dumps(summary, ensure_ascii=False, default=str))


def _load_sample(conn, settings: Settings, *, projects: int, seed: int, models: bool = True) -> dict:
    """The whole sample city: ledger, sensors, IFC models with schedules, site rasters."""
    from sensors.sample import load_sensors
    from spatial import sample_city as sample

    summary = sample.load(conn, projects=projects, seed=seed)
    summary["sensors"] = load_sensors(conn, seed=seed)
    if models:
        summary["models"] = _load_sample_models(conn, settings)
        from bim.progress.refresh_progress import refresh_all
        from bim.sample_progress import load_sample_progress

        summary["progress"] = {code: load_sample_progress(conn, code)["received"]
                               for code in {m["project_code"] for m in summary["models"]
                                            if m.get("status") == "done"}}
        summary["progress_refreshed"] = refresh_all(conn)   # PV/EV/SPI/card on the map at once
    summary["rasters"] = _write_sample_rasters(conn, settings)
    return summary


def _write_sample_rasters(conn, settings: Settings) -> list[dict]:
    """A generated site DEM and orthophoto (COGs) of one project, under $SITEWATCH_DATA/files."""
    from tiles.raster import files_root_of
    from tiles.sample_rasters import write_sample_rasters

    return write_sample_rasters(conn, files_root_of(settings.app.data))


def _load_sample_models(conn, settings: Settings) -> list[dict]:
    """The sample IFC models and their 4D schedules, through the IFC ingest (issue 3)."""
    from bim.sample_models import load_sample_models

    url = db.resolve_url(settings.database, start=False)
    return load_sample_models(conn, settings.app.data.expanduser().resolve(), url=url)


# -- 4D schedules ------------------------------------------------------------------------------------

@main.group("schedule")
def schedule_group() -> None:
    """4D schedules of BIM models."""


@schedule_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_id", type=int, required=True, help="bim_model id.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV of (GlobalId, TaskID/TaskName[, TaskStart]) linking elements to tasks.")
@click.option("--guid-field", default=None,
              help="Task custom field (e.g. Text1 or its alias) holding element GlobalIds.")
@click.option("--tz", "tz_name", default="Asia/Shanghai", show_default=True,
              help="Time zone of the file's local dates.")
def schedule_import(file: Path, model_id: int, mapping: Path | None, guid_field: str | None,
                    tz_name: str) -> None:
    """Attach an MS Project XML (MSPDI) schedule to a loaded model; print the counts as JSON."""
    from zoneinfo import ZoneInfo

    from bim.schedule import attach_msproject

    with _connect(_settings()) as conn:
        try:
            result = attach_msproject(conn, model_id, file, mapping_csv=mapping, guid_field=guid_field,
                                      tz=ZoneInfo(tz_name))
        except (LookupError, ValueError) as exc:
            click.echo(f"sitewatch: {exc}", err=True)
            sys.exit(1)
    click.echo(json.dumps(result, ensure_ascii=False, default=str))


# -- IFC models --------------------------------------------------------------------------------------

@main.group("ifc")
def ifc_group() -> None:
    """IFC (BIM) models."""


@ifc_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "project_code", required=True, help="Project code to attach it to.")
def ifc_load(file: Path, project_code: str) -> None:
    """Ingest an IFC model: store, parse (separate process), print the summary as JSON."""
    from bim.errors import FileTooLarge, InvalidIfc
    from bim.ingest import load_model
    from bim.settings import IngestSettings

    settings = _settings()
    url = db.resolve_url(settings.database, start=True)
    with _connect(settings) as conn:
        conn.autocommit = True
        try:
            model = load_model(conn, url=url, project_code=project_code, path=file,
                               data_dir=settings.database.data_dir, settings=IngestSettings())
        except (InvalidIfc, FileTooLarge) as exc:
            click.echo(f"sitewatch: rejected, nothing stored: {exc}", err=True)
            sys.exit(1)
    click.echo(json.dumps({k: model.get(k) for k in (
        "id", "project_code", "version", "status", "reason", "warnings", "sha256", "summary")},
        ensure_ascii=False, default=str, indent=2))
    if model["status"] != "done":
        click.echo(f"sitewatch: the model failed: {model.get('reason')}", err=True)
        sys.exit(1)


# -- ledger ------------------------------------------------------------------------------------------

@main.group("ledger")
def ledger_group() -> None:
    """Import and export the project ledger (项目台账)."""


@ledger_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layer", default=None, help="Layer name (GeoPackage with several layers).")
@click.option("--sheet", default=None, help="Sheet name or number (XLSX).")
def ledger_import(file: Path, layer: str | None, sheet: str | None) -> None:
    """Upsert projects by code from GPKG, SHP, GeoJSON, XLSX or CSV; all rows or none."""
    from spatial import ledger

    sheet_arg: str | int | None = int(sheet) if sheet and sheet.isdigit() else sheet
    with _connect(_settings()) as conn:
        try:
            result = ledger.import_file(conn, file, layer=layer, sheet=sheet_arg)
        except ValidationFailed as exc:
            click.echo(f"rejected, nothing imported: {exc}", err=True)
            for err in exc.errors:
                click.echo(f"  row {err['row']}: {err['field']}: {err['reason']}", err=True)
            sys.exit(1)
    click.echo(json.dumps(result, ensure_ascii=False, default=str))


@ledger_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["gpkg", "geojson", "xlsx", "csv"]),
              required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def ledger_export(fmt: str, out: Path) -> None:
    """Write the whole ledger to a file."""
    from spatial import ledger

    with _connect(_settings()) as conn:
        ledger.export_ledger(conn, fmt, out)
    click.echo(str(out))


# -- tokens ------------------------------------------------------------------------------------------

@main.group("token")
def token_group() -> None:
    """API tokens for writes."""


@token_group.command("create")
@click.option("--role", type=click.Choice(["admin", "supervisor", "enterprise", "gateway"]),
              required=True)
@click.option("--scope", default=None,
              help="enterprise: its credit code; supervisor: a district code (optional).")
@click.option("--label", default=None, help="Who or what the token is for.")
def token_create(role: str, scope: str | None, label: str | None) -> None:
    """Print a new token once; only its hash is stored."""
    from spatial import tokens

    with _connect(_settings()) as conn:
        click.echo(tokens.create(conn, role=role, scope=scope, label=label))


# -- serving -----------------------------------------------------------------------------------------

@main.command("serve")
@click.option("--host", default=None, help="Default 127.0.0.1 (SITEWATCH_HOST).")
@click.option("--port", type=int, default=None, help="Default 5000 (SITEWATCH_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the app with gunicorn (workers × threads sized to the cores)."""
    from api import serve as serving

    settings = _settings()
    if host:
        settings.app.host = host
    if port:
        settings.app.port = port
    with _connect(settings):
        pass  # cluster started, schema migrated
    serving.run(settings)


@main.command("demo")
@click.option("--port", type=int, default=None)
def demo(port: int | None) -> None:
    """Everything a newcomer needs: database, schema, sample city if empty, then serve."""
    from api import serve as serving

    settings = _settings()
    if port:
        settings.app.port = port
    with _connect(settings) as conn:
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM sitewatch.project)").fetchone()[0]
        if empty:
            summary = _load_sample(conn, settings, projects=300, seed=1)
            click.echo(f"loaded the sample city: {json.dumps(summary, ensure_ascii=False, default=str)}")
    click.echo(f"SiteWatch: {settings.app.base_url}/  (OGC API: {settings.app.base_url}/ogc/)")
    from api import sensor_cli  # broker, ingest worker and simulator, stopped on exit
    with sensor_cli.live_sensors(settings):
        serving.run(settings)


# Sensor commands (issue 6): ingest mqtt, sensors simulate|notify|load-sample.
from api import sensor_cli as _sensor_cli  # noqa: E402

_sensor_cli.register(main, _settings, _connect)
# Progress commands (issue 4): progress import, report deviation.
from api import progress_cli as _progress_cli  # noqa: E402

_progress_cli.register(main, _settings, _connect)


def run() -> None:
    """Entry point that turns our own errors into one clear line and exit code 2."""
    try:
        main(standalone_mode=True)
    except (ClusterError, SpatialError) as exc:
        click.echo(f"sitewatch: {exc}", err=True)
        sys.exit(2)
