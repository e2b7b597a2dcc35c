"""The MQTT side of the tests, shared by tests/sensors and tests/viewer: a Mosquitto of the tests'
own and the ingest worker as ``sitewatch ingest mqtt`` in a subprocess, as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sensors import broker

SITEWATCH = Path(sys.executable).parent / "sitewatch"


def mosquitto(folder: Path) -> broker.Mosquitto:
    """A started Mosquitto in ``folder`` (free port, persistence on), or a skip that says how to
    install it when the binary is absent.  The caller stops it (it is a context manager)."""
    if broker.find_binary() is None:
        pytest.skip(broker.INSTALL_HINT)
    folder.chmod(0o755)
    return broker.Mosquitto(folder).start()


class WorkerProcess:
    """``sitewatch ingest mqtt`` as a user runs it, in its own process group."""

    def __init__(self, database_url: str, mqtt_url: str, data: Path, client_id: str,
                 fast_io: bool = True) -> None:
        self.fast_io = fast_io
        self.database_url = database_url
        self.mqtt_url = mqtt_url
        self.data = data
        self.client_id = client_id
        self.log = data / "ingest.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SITEWATCH_")}
        env.update(SITEWATCH_DATABASE_URL=self.database_url, SITEWATCH_DATA=str(self.data),
                   SITEWATCH_NOTIFY_POLL_S="0.2",
                   SITEWATCH_MQTT_FAST_IO="true" if self.fast_io else "false")
        self.starts += 1
        mark = f"subscribed to sitewatch/+/+ on {self.mqtt_url}"
        seen = self.log.read_text().count(mark) if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(SITEWATCH), "ingest", "mqtt", "--url", self.mqtt_url,
                 "--client-id", self.client_id], env=env, cwd=self.data, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ingest worker exited:\n{self.tail()}")
            if self.log.exists() and self.log.read_text().count(mark) > seen:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"ingest worker did not subscribe:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) \
            if self.log.exists() else "(no log)"

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
