"""Shared helpers for SiteWatch benchmarks: percentiles, tables, server processes, load loops.

Benchmarks here run on the same machine as the servers they measure (2 cores in this project's
environment), so the load generator must be cheap.  :func:`http_load` is a small asyncio
HTTP/1.1 keep-alive client (one connection per simulated client, closed loop: each client sends
its next request as soon as the previous answer is read in full); it costs far less CPU per
request than ``requests``.  :func:`call_load` does the same for any blocking callable (e.g. a
query through psycopg), one thread per client.

Servers are started with :class:`ServerProcess`: a child in its own process group on a free
127.0.0.1 port, waited for until a URL answers 200, and stopped (SIGTERM to that group, then
SIGKILL) on exit, on an exception and on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LoadResult", "ServerProcess", "call_load", "cores", "fetch", "fetch_json", "free_port", "http_load",
    "percentile", "print_table", "raise_on_sigterm",
]


# -- numbers ---------------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (rank - lo)


def cores() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class LoadResult:
    """Latencies (seconds) of the requests completed inside the measured window."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    first_error: str | None = None

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else math.nan

    def p(self, q: float) -> float:
        """Percentile ``q`` in milliseconds."""
        return percentile(self.latencies, q) * 1000.0

    def merge(self, other: LoadResult) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error


# -- output ----------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, file=None) -> None:
    """A plain text table: text left-aligned, numbers right-aligned, ``|`` between columns."""
    text = [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] in (None, "n/a") for row in rows)
               for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(c.rjust(w) if num else c.ljust(w)
                          for c, w, num in zip(cells, widths, numeric)).rstrip()

    print(line(headers), file=file)
    print("-+-".join("-" * w for w in widths), file=file)
    for r in text:
        print(line(r), file=file)


# -- processes -------------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def raise_on_sigterm() -> None:
    """Make SIGTERM and SIGINT raise KeyboardInterrupt, so ``finally`` blocks clean up.

    SIGINT is set explicitly too: a process started in the background by a non-interactive
    shell inherits SIGINT ignored, and Python then leaves it ignored.
    """
    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def fetch(url: str, *, timeout: float = 120.0) -> tuple[int, bytes]:
    """GET ``url`` asking for GeoJSON; (status, body bytes as sent), also for 4xx/5xx."""
    req = urllib.request.Request(url, headers={"Accept": "application/geo+json, application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def fetch_json(url: str, *, timeout: float = 120.0) -> tuple[int, Any]:
    """GET ``url``; (status, parsed JSON body or the raw text when it is not JSON)."""
    status, body = fetch(url, timeout=timeout)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


class ServerProcess:
    """A server child process on 127.0.0.1:``port``, in its own process group.

    ``ready_path`` is polled until it answers 200 (or the process dies, or ``timeout`` passes).
    Output goes to ``log`` so a failure can show its tail.
    """

    def __init__(self, name: str, argv: Sequence[str], *, port: int, env: dict[str, str] | None = None,
                 log: Path, ready_path: str = "/", cwd: str | Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.env = env
        self.log = Path(log)
        self.ready_path = ready_path
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 120.0) -> ServerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} while starting:"
                                   f"\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + self.ready_path, timeout=5) as resp:
                    if resp.status == 200:
                        return self
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {self.ready_path} within {timeout:.0f} s "
                           f"({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, *, grace: float = 10.0) -> None:
        """SIGTERM to the child's process group (it started it), then SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- HTTP load -------------------------------------------------------------------------------------

class _Connection:
    """One keep-alive HTTP/1.1 connection, enough of the protocol for GET benchmarks."""

    def __init__(self, host: str, port: int, *, reconnect_every: int = 0) -> None:
        self.host, self.port = host, port
        self.reconnect_every = reconnect_every
        self.used = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port,
                                                                 limit=1 << 20)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.used = 0

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.reconnect_every and self.used >= self.reconnect_every:
            self.close()
        for attempt in (0, 1):  # a server may close an idle keep-alive connection: retry once
            fresh = self.writer is None
            if fresh:
                await self._open()
            try:
                answer = await self._get(path)
                self.used += 1
                return answer
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt or fresh:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          "Accept: application/geo+json\r\nConnection: keep-alive\r\n\r\n"
                          .encode("ascii"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers expected
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:  # read to close
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body


async def _http_load(host: str, port: int, paths: Sequence[str], concurrency: int,
                     seconds: float, warmup: float, check: Callable[[int, bytes], str | None] | None,
                     reconnect_every: int) -> LoadResult:
    conns = [_Connection(host, port, reconnect_every=reconnect_every) for _ in range(concurrency)]
    result = LoadResult()
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def client(i: int) -> None:
        conn = conns[i]
        n = i
        while True:
            t0 = loop.time()
            if t0 >= stop_at:
                return
            path = paths[n % len(paths)]
            n += 1
            error = None
            try:
                status, body = await conn.get(path)
                if status != 200:
                    error = f"HTTP {status}: {body[:200]!r}"
                elif check is not None:
                    error = check(status, body)
            except Exception as exc:  # counted, not fatal: the table says how many failed
                error = f"{type(exc).__name__}: {exc}"
                conn.close()
            t1 = loop.time()
            if t0 >= measure_from and t1 <= stop_at:
                if error is None:
                    result.latencies.append(t1 - t0)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or error
            if error is not None:
                await asyncio.sleep(0.01)  # do not spin on a failing server

    try:
        await asyncio.gather(*(client(i) for i in range(concurrency)))
    finally:
        for c in conns:
            c.close()
    result.elapsed = seconds
    return result


def http_load(base_url: str, paths: str | Sequence[str], *, concurrency: int, seconds: float,
              warmup: float = 0.0, check: Callable[[int, bytes], str | None] | None = None,
              reconnect_every: int = 20) -> LoadResult:
    """Closed-loop GET load on ``base_url`` (``http://host:port``) for ``warmup + seconds``.

    ``concurrency`` clients each keep one connection and send their next request when the last
    answer is in.  Only requests that start after the warm-up and end before the deadline count.
    ``check(status, body)`` may return an error text to count a 200 answer as failed.

    Each client opens a new connection after ``reconnect_every`` requests (0: never).  Servers
    whose worker processes share one listening socket (gunicorn, uvicorn --workers) keep a
    connection on the worker that accepted it; with a handful of long-lived connections the
    kernel may hand 7 of 8 to one worker and leave another idle for the whole run, which
    measures luck, not the server.  Reconnecting lets idle workers pick up connections.
    """
    hostport = base_url.split("://", 1)[1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if isinstance(paths, str):
        paths = [paths]
    return asyncio.run(_http_load(host, int(port), list(paths), concurrency, seconds, warmup,
                                  check, reconnect_every))


def call_load(make_call: Callable[[], Callable[[], object]], *, concurrency: int, seconds: float,
              warmup: float = 0.0, cleanup: Callable[[Callable[[], object]], None] | None = None
              ) -> LoadResult:
    """Closed-loop load of a blocking callable, one thread per client.

    ``make_call()`` runs once in each thread and returns that client's callable (so each thread
    owns its own connection); ``cleanup(call)`` runs in the thread at the end.
    """
    result = LoadResult()
    lock = threading.Lock()
    times: dict[str, float] = {}

    def set_clock() -> None:  # runs once, when every client is connected
        now = time.perf_counter()
        times["from"] = now + warmup
        times["to"] = now + warmup + seconds

    ready = threading.Barrier(concurrency, action=set_clock)

    def worker() -> None:
        local = LoadResult()
        call = None
        try:
            call = make_call()
        except Exception as exc:
            local.errors += 1
            local.first_error = f"{type(exc).__name__}: {exc}"
        ready.wait()
        measure_from, stop_at = times["from"], times["to"]
        try:
            while call is not None:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    break
                error = None
                try:
                    call()
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop_at:
                    if error is None:
                        local.latencies.append(t1 - t0)
                    else:
                        local.errors += 1
                        local.first_error = local.first_error or error
                if error is not None:
                    time.sleep(0.01)
        finally:
            if cleanup is not None and call is not None:
                cleanup(call)
            with lock:
                result.merge(local)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.elapsed = seconds
    return result


# -- where a benchmark's data lives ------------------------------------------------------------------

class BenchDatabase:
    """A private cluster in ``data``, or a scratch database on SITEWATCH_DATABASE_URL.

    Never the real ledger: benchmarks load the sample city, which truncates the project tables.
    ``extra_options`` go to the private cluster's postgres (e.g. ``-c fsync=off``).
    """

    def __init__(self, data: Path, *, extra_options: str = "") -> None:
        self.data = data
        self.extra_options = extra_options
        self.external = os.environ.get("SITEWATCH_DATABASE_URL")
        self.scratch: str | None = None
        self.url = ""

    def _settings(self):
        from spatial.settings import DatabaseSettings

        return DatabaseSettings(data=self.data, database_url=None)

    def start(self) -> str:
        import uuid

        import psycopg
        from psycopg import sql

        from spatial import cluster

        if self.external:
            self.scratch = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(self.external, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.scratch)))
            info = psycopg.conninfo.conninfo_to_dict(self.external)
            info["dbname"] = self.scratch
            self.url = psycopg.conninfo.make_conninfo(**info)
        else:
            self.url = cluster.start(self._settings(), extra_options=self.extra_options)
        return self.url

    def stop(self) -> None:
        import psycopg
        from psycopg import sql

        from spatial import cluster

        if self.scratch:
            with psycopg.connect(self.external, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                              .format(sql.Identifier(self.scratch)))
        else:  # also after a start that failed half-way; a cluster that is not running is fine
            cluster.stop(self._settings())

    def info(self) -> dict[str, str]:
        import psycopg

        return psycopg.conninfo.conninfo_to_dict(self.url)


def print_targets(targets: Sequence[str]) -> None:
    """The PASS/FAIL lines and their tally."""
    print("\ntargets:")
    for line in targets:
        print("  " + line)
    failed = sum("FAIL" in t for t in targets)
    print(f"\n{len(targets) - failed} of {len(targets)} targets pass")


# -- servers under test ------------------------------------------------------------------------------

def server_env(**extra: str) -> dict[str, str]:
    """This environment without libpq/TiPG settings that would steer a server elsewhere."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIPG_"))}
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def start_sitewatch(url: str, data: Path, workers: int, threads: int,
                    host: str = "127.0.0.1") -> ServerProcess:
    """``sitewatch serve`` on a free port against ``url``, with the given gunicorn layout."""
    import sys

    port = free_port(host)
    return ServerProcess(
        "ours", [str(Path(sys.executable).parent / "sitewatch"), "serve", "--host", host,
                 "--port", str(port)], port=port,
        env=server_env(SITEWATCH_DATABASE_URL=url, SITEWATCH_DATA=str(data),
                       SITEWATCH_WORKERS=str(workers), SITEWATCH_THREADS=str(threads)),
        log=data / "logs" / "ours.log", ready_path="/healthz",
    ).start()
