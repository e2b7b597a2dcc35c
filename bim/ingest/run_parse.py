"""Run one model's parse in a separate process with a memory ceiling and a timeout.

The child is forked from a ``multiprocessing`` fork server that has already imported
ifcopenshell, numpy, shapely, pyproj and psycopg, so a parse starts in milliseconds and the
server process never forks itself while its threads hold locks.  The child sets
``RLIMIT_AS`` (its address space, so a runaway C++ allocation fails instead of taking the
machine), opens the file, parses it and writes the result in one transaction of its own
connection.  If it is killed half way, PostgreSQL rolls that transaction back: nothing is half
written.  The parent waits up to the timeout, kills the child when it is over, and marks the
model failed with the reason unless the child recorded an outcome itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import tempfile
import time
from pathlib import Path

import ifcopenshell
import psycopg

from bim.errors import InvalidIfc, ParseFailed
from bim.ingest.check_file import check_file
from bim.ingest.parse_model import parse_model
from bim.ingest.store_file import copy_with_header, file_path
from bim.ingest.write_model import write_model
from bim.settings import IngestSettings

__all__ = ["mark_failed", "run_parse", "warm_up"]

logger = logging.getLogger(__name__)

MEMORY_EXIT = 86          # the child hit its memory ceiling
_context: multiprocessing.context.ForkServerContext | None = None


def _ctx() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        # '__main__' is multiprocessing's own default: the main script loads once in the
        # server instead of once per child.
        ctx.set_forkserver_preload(["__main__", "bim.ingest._preload"])
        _context = ctx
    return _context


def _noop() -> None:
    pass


def warm_up() -> None:
    """Start the fork server now (imports take a second or two) rather than on the first parse."""
    proc = _ctx().Process(target=_noop, name="ifc-parse-warmup")
    proc.start()
    proc.join()


def mark_failed(conn: psycopg.Connection, model_id: int, reason: str) -> bool:
    """Fail a model that is still queued or parsing; False when it already has an outcome."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE sitewatch.bim_model SET status = 'failed', failure_reason = %s,"
            " finished_at = now() WHERE id = %s AND status IN ('queued', 'parsing')",
            (reason[:2000], model_id))
    return cur.rowcount == 1


def _open(path: Path) -> ifcopenshell.file:
    header = check_file(path)
    if header.read_as == header.schema:
        return ifcopenshell.open(str(path))
    with tempfile.TemporaryDirectory(prefix="sitewatch-ifc-") as folder:
        alias = Path(folder) / path.name
        copy_with_header(path, alias, f"'{header.schema}'".encode(),
                         f"'{header.read_as}'".encode())
        return ifcopenshell.open(str(alias))


def _parse_and_write(url: str, model_id: int, data_dir: str, settings: IngestSettings) -> None:
    with psycopg.connect(url, autocommit=True, application_name="sitewatch-ifc-parse") as conn:
        row = conn.execute(
            "SELECT m.sha256, ST_X(ST_PointOnSurface(p.footprint)),"
            " ST_Y(ST_PointOnSurface(p.footprint)) FROM sitewatch.bim_model m"
            " JOIN sitewatch.project p ON p.id = m.project_id WHERE m.id = %s",
            (model_id,)).fetchone()
        if row is None:
            return
        sha, lon, lat = row
        try:
            started = time.perf_counter()
            model = _open(file_path(Path(data_dir), sha))
            opened = time.perf_counter()
            parsed = parse_model(model, fallback_lonlat=(lon, lat) if lon is not None else None,
                                 threads=settings.threads)
            parsed.summary["timings"]["open_s"] = round(opened - started, 4)
        except MemoryError:
            raise
        except (InvalidIfc, ParseFailed) as exc:
            mark_failed(conn, model_id, str(exc))
            return
        except Exception as exc:  # ifcopenshell raises several kinds on malformed files
            if "bad_alloc" in str(exc):
                raise MemoryError(str(exc)) from exc
            logger.exception("parse of model %s failed", model_id)
            mark_failed(conn, model_id, f"the IFC file could not be read: {type(exc).__name__}: {exc}")
            return
        parsed.summary["resources"] = _resources(_MEMORY_AT_START, settings)
        write_model(conn, model_id, parsed, ifc_file=model, data_dir=data_dir,
                    suspect_distance_m=settings.suspect_distance_m)


def _memory_mb() -> dict[str, float]:
    """VmHWM, VmRSS, RssAnon, RssFile, RssShmem of this process in MiB (Linux), else {}."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    wanted = ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")
    return {k: int(v.split()[0]) / 1024 for k, _, v in (line.partition(":") for line in lines)
            if k in wanted}


def _resources(start: dict[str, float], settings: IngestSettings) -> dict:
    """Memory the parse used.  A forked child faults the server's shared library pages back in
    as it runs them, which VmHWM counts; ``peak_private_mb`` leaves those file-backed pages out
    (peak RSS minus file and shared pages at the end), which is what the parse itself took."""
    end = _memory_mb()
    if not end:
        return {"memory_limit_mb": settings.memory_limit_mb}
    private = end["VmHWM"] - end.get("RssFile", 0.0) - end.get("RssShmem", 0.0)
    return {"memory_limit_mb": settings.memory_limit_mb, "peak_rss_mb": round(end["VmHWM"], 1),
            "rss_at_start_mb": round(start.get("VmRSS", 0.0), 1),
            "peak_private_mb": round(private, 1),
            "private_at_start_mb": round(start.get("RssAnon", 0.0), 1)}


_MEMORY_AT_START: dict[str, float] = {}


def _child(url: str, model_id: int, data_dir: str, settings: IngestSettings) -> None:
    _MEMORY_AT_START.update(_memory_mb())
    limit = settings.memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        _parse_and_write(url, model_id, data_dir, settings)
    except MemoryError:
        os._exit(MEMORY_EXIT)
    except BaseException as exc:  # the database write failed: say why, then leave
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                mark_failed(conn, model_id, f"the result could not be stored: {exc}")
        except MemoryError:
            os._exit(MEMORY_EXIT)
        except BaseException:
            os._exit(2)
    os._exit(0)


def _reason(exitcode: int | None, settings: IngestSettings) -> str | None:
    ceiling = f"the memory ceiling of {settings.memory_limit_mb} MiB"
    if exitcode == 0:
        return None
    if exitcode == MEMORY_EXIT:
        return f"the parse exceeded {ceiling}"
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = f", probably at {ceiling}" if name in ("SIGABRT", "SIGSEGV", "SIGBUS") else ""
        return f"the parse process crashed ({name}){hint}"
    return f"the parse process exited with code {exitcode}"


def run_parse(url: str, model_id: int, *, data_dir: Path | str,
              settings: IngestSettings | None = None,
              conn: psycopg.Connection | None = None) -> tuple[str, str | None]:
    """Parse model ``model_id`` (status ``parsing``) in a child; return (status, reason).

    ``conn`` (autocommit), when given, is used to record the outcome; else one is opened.
    """
    settings = settings or IngestSettings()
    proc = _ctx().Process(target=_child, args=(url, model_id, str(data_dir), settings),
                          name=f"ifc-parse-{model_id}")
    proc.start()
    proc.join(settings.timeout_s)
    if proc.is_alive():
        proc.kill()
        proc.join(30)
        reason: str | None = f"the parse timed out after {settings.timeout_s:g} s"
    else:
        reason = _reason(proc.exitcode, settings)
    proc.close()
    own = conn is None
    conn = conn or psycopg.connect(url, autocommit=True)
    try:
        mark_failed(conn, model_id, reason or "the parse ended without storing a result")
        status, failure = conn.execute(
            "SELECT status, failure_reason FROM sitewatch.bim_model WHERE id = %s",
            (model_id,)).fetchone()  # type: ignore[misc]
    finally:
        if own:
            conn.close()
    return status, failure
