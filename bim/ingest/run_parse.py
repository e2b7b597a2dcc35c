"""Run one model's parse in a separate process with a memory ceiling and a timeout.

The child is forked from a ``multiprocessing`` fork server that has already imported
ifcopenshell, numpy, shapely, pyproj and psycopg, and the server process never forks itself
while its threads hold locks.  One child is kept forked ahead, waiting for its job on a pipe
(after each parse the next one is started in the background; ``warm_up`` starts the first), so
a parse does not wait for the fork and the child's start.  Each child still runs one parse
only: a crash, a leak or the memory ceiling never outlives its model.  The parent looks up the
file and the fallback position on its own connection and hands them over with the job, so the
child opens the file at once.  The child sets ``RLIMIT_AS`` (its address space, so a runaway
C++ allocation fails instead of taking the machine), opens the file, forks the geometry helper
for models of some size (``bim.ingest._shape_helper``: the iterator runs beside the Python
work), connects to the database in a thread meanwhile (one connection per parse, PostGIS
loaded in its backend while the file is parsed), parses and writes the result in one
transaction.  If it is killed
half way, PostgreSQL rolls that transaction back: nothing is half written.  The parent waits up
to the timeout, kills the child when it is over, and marks the model failed with the reason
unless the child recorded an outcome itself.  The child says so on the pipe as soon as it has
committed, so the parent goes on while the child closes and exits (unmapping a few hundred MB).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import resource
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import ifcopenshell
import psycopg

from bim import elements as bim_elements
from bim.errors import InvalidIfc, ParseFailed
from bim.ingest._shape_helper import ShapeHelper
from bim.ingest.check_file import check_file
from bim.ingest.parse_model import parse_model
from bim.ingest.store_file import copy_with_header, file_path
from bim.ingest.write_model import write_model
from bim.settings import IngestSettings

__all__ = ["mark_failed", "run_parse", "warm_up"]

logger = logging.getLogger(__name__)

MEMORY_EXIT = 86          # the child hit its memory ceiling
# Below this many elements the helper's fork (about 10 ms, and copy-on-write faults after it)
# costs more than it saves (IfcOpenHouse, 40 elements: +7 ms; AC20-FZK-Haus, 82: -30 ms).
HELPER_MIN_ELEMENTS = 64
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
    """Start the fork server now (imports take a second or two) rather than on the first parse,
    and fork the first parse child, which then waits for its job."""
    proc = _ctx().Process(target=_noop, name="ifc-parse-warmup")
    proc.start()
    proc.join()
    _keep_spare()


class _Spare(NamedTuple):
    """A parse child forked ahead, and the parent's end of its pipe (job in, outcome out)."""
    proc: multiprocessing.process.BaseProcess
    channel: multiprocessing.connection.Connection


_spare: _Spare | None = None
_spare_lock = threading.Lock()
_exiting = False


def _start_spare() -> _Spare:
    mine, theirs = multiprocessing.Pipe()
    # Daemonic: were one still waiting when the interpreter exits, multiprocessing's exit
    # handler terminates it instead of joining it for ever.
    proc = _ctx().Process(target=_serve_one, args=(theirs,), name="ifc-parse", daemon=True)
    proc.start()
    theirs.close()
    return _Spare(proc, mine)


def _keep_spare() -> None:
    """Have a child waiting for the next parse (not once the interpreter is exiting)."""
    global _spare
    with _spare_lock:
        if _spare is None and not _exiting:
            _spare = _start_spare()


def _take_spare() -> _Spare:
    """The waiting child, or a new one when there is none (or it died)."""
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and spare.proc.is_alive():
        return spare
    if spare is not None:
        _drop(spare)
    return _start_spare()


def _drop(spare: _Spare) -> None:
    spare.channel.close()       # a waiting child reads end-of-file and exits
    spare.proc.join(5)
    if spare.proc.is_alive():
        spare.proc.kill()
        spare.proc.join(5)
    spare.proc.close()


def _forget_after_fork() -> None:
    """In a process forked from one that has parsed: forget the parent's spare and fork server.

    ``sitewatch demo`` loads the sample models, then becomes gunicorn's master, whose workers
    are forked from it: each would inherit a spare child and a fork server that are not its own
    children (``is_alive`` and ``waitpid`` refuse them) and every upload would fail.  Each such
    process starts its own on its first parse instead; the parent keeps using its own.
    """
    global _spare, _spare_lock
    spare, _spare = _spare, None
    _spare_lock = threading.Lock()   # another thread may have held it at the fork
    if spare is not None:
        spare.channel.close()        # this process's copy of the pipe only
    # multiprocessing keeps one fork server per interpreter (its module functions are bound to
    # it) and has no public way to start another: reset it to "not started", as its own stop
    # does, without waiting for the parent's server or removing its socket.  Closing our copy
    # of its "alive" pipe lets the parent's server end with the parent.
    server = multiprocessing.forkserver._forkserver
    server._lock = threading.Lock()
    if server._forkserver_pid is not None:
        if server._forkserver_alive_fd is not None:
            os.close(server._forkserver_alive_fd)
        server._forkserver_address = server._forkserver_alive_fd = None
        server._forkserver_pid = None


os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register  # runs before multiprocessing's own exit handler (registered earlier)
def _drop_spare() -> None:
    global _spare, _exiting
    with _spare_lock:
        spare, _spare, _exiting = _spare, None, True
    if spare is not None:
        _drop(spare)


def _serve_one(channel: multiprocessing.connection.Connection) -> None:
    """A spare child: wait for one job, run it, exit."""
    try:
        job = channel.recv()
    except (EOFError, OSError):
        os._exit(0)
    _child(*job, outcome=channel)


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


class _Connect(threading.Thread):
    """The parse's database connection, opened beside the parse (psycopg waits without the GIL)."""

    def __init__(self, url: str) -> None:
        super().__init__(name="ifc-parse-connect", daemon=True)
        self.url = url
        self.conn: psycopg.Connection | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.conn = psycopg.connect(self.url, autocommit=True,
                                        application_name="sitewatch-ifc-parse")
            self.conn.execute("SELECT postgis_lib_version()")  # loads PostGIS in the backend
        except BaseException as exc:
            self.error = exc

    def result(self) -> psycopg.Connection:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.conn is not None
        return self.conn


def _parse_and_write(url: str, model_id: int, source: Path,
                     fallback_lonlat: tuple[float, float] | None, data_dir: str,
                     settings: IngestSettings, recorded: Callable[[], None]) -> None:
    """Parse and write, or record why not; ``recorded()`` once an outcome is committed."""
    helper: ShapeHelper | None = None
    connect: _Connect | None = None
    try:
        try:
            started = time.perf_counter()
            model = _open(source)
            opened = time.perf_counter()
            elements = bim_elements.get_elements(model)
            if len(elements) >= HELPER_MIN_ELEMENTS:  # forked before any thread starts here
                try:
                    helper = ShapeHelper(model, elements, threads=settings.threads)
                except OSError as exc:  # no fork (process or memory limits): run it here
                    logger.warning("no geometry helper for model %s (%s)", model_id, exc)
            connect = _Connect(url)
            parsed = parse_model(model, fallback_lonlat=fallback_lonlat, threads=settings.threads,
                                 shapes=helper)
            parsed.summary["timings"]["open_s"] = round(opened - started, 4)
        except MemoryError:
            raise
        except (InvalidIfc, ParseFailed) as exc:
            with _connection(connect, url) as conn:
                mark_failed(conn, model_id, str(exc))
                recorded()
            return
        except Exception as exc:  # ifcopenshell raises several kinds on malformed files
            if "bad_alloc" in str(exc):
                raise MemoryError(str(exc)) from exc
            logger.exception("parse of model %s failed", model_id)
            with _connection(connect, url) as conn:
                mark_failed(conn, model_id,
                            f"the IFC file could not be read: {type(exc).__name__}: {exc}")
                recorded()
            return
        helper_mb = helper.memory_mb if helper is not None else 0.0
        with _connection(connect, url) as conn:
            write_model(conn, model_id, parsed, ifc_file=model, data_dir=data_dir,
                        suspect_distance_m=settings.suspect_distance_m,
                        resources=lambda: _resources(_MEMORY_AT_START, settings, helper_mb))
            recorded()
    finally:
        if helper is not None:
            helper.close(wait=False)


def _connection(connect: _Connect | None, url: str) -> psycopg.Connection:
    """The connection opened beside the parse, or a new one when none was started."""
    if connect is None:
        return psycopg.connect(url, autocommit=True, application_name="sitewatch-ifc-parse")
    return connect.result()


def _memory_mb() -> dict[str, float]:
    """VmHWM, VmRSS, RssAnon, RssFile, RssShmem of this process in MiB (Linux), else {}."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    wanted = ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")
    return {k: int(v.split()[0]) / 1024 for k, _, v in (line.partition(":") for line in lines)
            if k in wanted}


def _resources(start: dict[str, float], settings: IngestSettings, helper_mb: float = 0.0) -> dict:
    """Memory the parse used.  A forked child faults the server's shared library pages back in
    as it runs them, which VmHWM counts; ``peak_private_mb`` leaves those file-backed pages out
    (peak RSS minus file and shared pages at the end), which is what the parse itself took.
    ``helper_private_mb`` is the geometry helper's own growth measured the same way, and
    ``parse_private_mb`` the sum of both growths (an upper bound: their peaks need not meet)."""
    end = _memory_mb()
    if not end:
        return {"memory_limit_mb": settings.memory_limit_mb}
    private = end["VmHWM"] - end.get("RssFile", 0.0) - end.get("RssShmem", 0.0)
    growth = max(private - start.get("RssAnon", 0.0), 0.0) + helper_mb
    return {"memory_limit_mb": settings.memory_limit_mb, "peak_rss_mb": round(end["VmHWM"], 1),
            "rss_at_start_mb": round(start.get("VmRSS", 0.0), 1),
            "peak_private_mb": round(private, 1),
            "private_at_start_mb": round(start.get("RssAnon", 0.0), 1),
            "helper_private_mb": round(helper_mb, 1), "parse_private_mb": round(growth, 1)}


_MEMORY_AT_START: dict[str, float] = {}


def _child(url: str, model_id: int, source: str, fallback_lonlat: tuple[float, float] | None,
           data_dir: str, settings: IngestSettings, *,
           outcome: multiprocessing.connection.Connection) -> None:
    _MEMORY_AT_START.update(_memory_mb())
    limit = settings.memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    told: list[bool] = []

    def recorded() -> None:  # the parent need not wait for this process to close and exit
        if not told:
            told.append(True)
            try:
                outcome.send_bytes(b"recorded")
            except OSError:
                pass

    try:
        _parse_and_write(url, model_id, Path(source), fallback_lonlat, data_dir, settings,
                         recorded)
    except MemoryError:
        os._exit(0 if told else MEMORY_EXIT)
    except BaseException as exc:  # the database write failed: say why, then leave
        if told:
            os._exit(0)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                mark_failed(conn, model_id, f"the result could not be stored: {exc}")
        except MemoryError:
            os._exit(MEMORY_EXIT)
        except BaseException:
            os._exit(2)
        recorded()
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


def _after(proc: multiprocessing.process.BaseProcess | None, timeout: float) -> None:
    """Off the parse's path, in a thread: fork the next spare child, then join ``proc`` (a child
    that has recorded its outcome and is exiting)."""
    _keep_spare()
    if proc is not None:
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join(30)
        proc.close()


def run_parse(url: str, model_id: int, *, data_dir: Path | str,
              settings: IngestSettings | None = None,
              conn: psycopg.Connection | None = None) -> tuple[str, str | None]:
    """Parse model ``model_id`` (status ``parsing``) in a child; return (status, reason).

    ``conn`` (autocommit), when given, is used to look the model up and record the outcome;
    else one is opened.
    """
    settings = settings or IngestSettings()
    own = conn is None
    conn = conn or psycopg.connect(url, autocommit=True)
    try:
        row = conn.execute(
            "SELECT m.sha256, ST_X(ST_PointOnSurface(p.footprint)),"
            " ST_Y(ST_PointOnSurface(p.footprint)) FROM sitewatch.bim_model m"
            " JOIN sitewatch.project p ON p.id = m.project_id WHERE m.id = %s",
            (model_id,)).fetchone()
        if row is None:
            return "failed", f"model {model_id} not found"
        sha, lon, lat = row
        job = (url, model_id, str(file_path(Path(data_dir), sha)),
               (lon, lat) if lon is not None else None, str(data_dir), settings)
        exiting, reason = _run_child(job, settings)
        try:
            status, failure = _outcome(conn, model_id)
            if status in ("queued", "parsing"):
                mark_failed(conn, model_id, reason or "the parse ended without storing a result")
                status, failure = _outcome(conn, model_id)
        finally:
            threading.Thread(target=_after, args=(exiting, settings.timeout_s), daemon=True,
                             name="ifc-parse-after").start()
    finally:
        if own:
            conn.close()
    return status, failure


def _outcome(conn: psycopg.Connection, model_id: int) -> tuple[str, str | None]:
    return conn.execute("SELECT status, failure_reason FROM sitewatch.bim_model WHERE id = %s",
                        (model_id,)).fetchone()  # type: ignore[return-value]


def _run_child(job: tuple, settings: IngestSettings
               ) -> tuple[multiprocessing.process.BaseProcess | None, str | None]:
    """Hand ``job`` to a child and see it through.  Returns the child when it recorded its
    outcome and is still exiting (to be joined later), and the failure reason (None when the
    child recorded its outcome itself or ended cleanly)."""
    proc, channel = _take_spare()
    try:
        try:
            channel.send(job)
        except OSError:  # the spare died just now: fork one for this job
            _drop(_Spare(proc, channel))
            proc, channel = _start_spare()
            channel.send(job)
        try:
            ready = multiprocessing.connection.wait([channel, proc.sentinel], settings.timeout_s)
            recorded = channel in ready and channel.poll() and channel.recv_bytes() == b"recorded"
        except (EOFError, OSError):
            recorded = False
    finally:
        channel.close()
    if recorded:  # the child is closing and exiting: it is joined off this path
        return proc, None
    proc.join(settings.timeout_s if ready else 0)
    if proc.is_alive():
        proc.kill()
        proc.join(30)
        reason: str | None = f"the parse timed out after {settings.timeout_s:g} s"
    else:
        reason = _reason(proc.exitcode, settings)
    proc.close()
    return None, reason
