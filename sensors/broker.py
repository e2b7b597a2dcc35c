"""Mosquitto: find it, probe a broker, run one of our own (demo, tests, benchmarks).

Our own broker is configured for ingest that loses nothing: persistence on (saved on shutdown
and every few seconds), a large per-client queue for a worker that is away, and an in-flight
window wide enough for a worker that acknowledges a whole batch after its commit (Mosquitto's
default of 20 unacknowledged messages per client would throttle it to 20 per batch).
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

DEFAULT_PORT = 1883
INSTALL_HINT = ("Mosquitto is not installed: sudo apt-get install -y mosquitto "
                "(or scripts/system-deps.sh run), or set SITEWATCH_MQTT_URL to a broker")


def parse_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` (``tcp://`` too; port 1883 by default) → (host, port)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported broker URL {url!r} (mqtt://host:port)")
    if not parts.hostname:
        raise ValueError(f"broker URL {url!r} has no host")
    return parts.hostname, parts.port or DEFAULT_PORT


def probe(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when an MQTT broker accepts a connection there (CONNECT → CONNACK 0)."""
    client_id = f"sitewatch-probe-{os.getpid()}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x0a" + struct.pack("!H", len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(bytes([0x10, len(body)]) + body)
            answer = sock.recv(4)
            ok = len(answer) == 4 and answer[0] == 0x20 and answer[3] == 0
            if ok:
                sock.sendall(b"\xe0\x00")  # DISCONNECT
            return ok
    except OSError:
        return False


def find_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class Mosquitto:
    """A Mosquitto process of our own, with its config, persistence and log in ``folder``."""

    def __init__(self, folder: Path, port: int | None = None, host: str = "127.0.0.1", *,
                 max_inflight: int = 20_000, max_queued: int = 1_000_000) -> None:
        self.folder = Path(folder)
        self.host = host
        self.port = port or free_port(host)
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.folder / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.folder / "mosquitto.log"

    def write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        self.config_file.write_text(
            "# written by SiteWatch (sensors.broker); regenerated on every start\n"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"          # as root: stay root, keep our folder writable
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 5\n"
            f"max_inflight_messages {self.max_inflight}\n"
            f"max_queued_messages {self.max_queued}\n"
            "max_queued_bytes 0\n"
            "set_tcp_nodelay true\n"
            f"log_dest file {self.log_file}\n"
            "log_type error\nlog_type warning\nlog_type notice\n",
            encoding="utf-8")

    def start(self, timeout: float = 15.0) -> Mosquitto:
        binary = find_binary()
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.write_config()
        self.proc = subprocess.Popen([binary, "-c", str(self.config_file)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}"
                                   f"{self.log_tail()}")
            if probe(self.host, self.port, timeout=0.5):
                logger.info("mosquitto %s running (pid %s)", self.url, self.proc.pid)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not answer on {self.url} within {timeout:.0f} s")

    def log_tail(self, lines: int = 10) -> str:
        try:
            return "\n" + "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file on the way out), then SIGKILL."""
        proc, self.proc = self.proc, None
        terminate(proc, timeout)

    def __enter__(self) -> Mosquitto:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def choose(mqtt_url: str | None, folder: Path) -> tuple[str, Mosquitto | None]:
    """The broker ``sitewatch demo`` uses, as DESIGN.md orders it.

    ``SITEWATCH_MQTT_URL`` when set; else a broker already answering on 127.0.0.1:1883; else a
    Mosquitto of our own on 1883 (a free port when 1883 is taken), which the caller stops.
    """
    if mqtt_url:
        return mqtt_url, None
    if probe("127.0.0.1", DEFAULT_PORT):
        logger.info("using the MQTT broker already answering on 127.0.0.1:1883")
        return f"mqtt://127.0.0.1:{DEFAULT_PORT}", None
    port = DEFAULT_PORT if port_free("127.0.0.1", DEFAULT_PORT) else None
    broker = Mosquitto(folder, port=port).start()
    return broker.url, broker


def terminate(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """SIGTERM a child process, then SIGKILL it if it has not exited within ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
