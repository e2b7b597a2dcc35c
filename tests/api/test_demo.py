"""``sitewatch demo``, what ``make run`` starts, as a user meets it: served by gunicorn after the
sample city (and its IFC models) loaded in the same process, uploads parsed, readings flowing,
and nothing left running after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from sensors.broker import free_port
from tests.conftest import fresh_database
from tests.mqtt_support import SITEWATCH, mosquitto

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, *, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _until(what: str, check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except (urllib.error.URLError, ConnectionError):
            found = None
        if found:
            return found
        time.sleep(0.25)
    pytest.fail(f"{what}: not within {timeout:.0f} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def demo(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """``sitewatch demo`` on a free port, an empty database and a broker of the test's own."""
    data = tmp_path_factory.mktemp("demo")
    data.chmod(0o755)
    url = fresh_database(database_url, "sitewatch_demo")
    with mosquitto(tmp_path_factory.mktemp("demo-mqtt")) as broker:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SITEWATCH_")}
        env.update(SITEWATCH_DATABASE_URL=url, SITEWATCH_DATA=str(data),
                   SITEWATCH_MQTT_URL=broker.url, SITEWATCH_PORT=str(port))
        log = data / "demo.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(SITEWATCH), "demo"], env=env, cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield {"base": f"http://127.0.0.1:{port}", "env": env, "proc": proc, "log": log,
                   "run": data / "run", "broker": broker}
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_make_run_serves_parses_uploads_ingests_and_stops_cleanly(demo):
    base, proc, log = demo["base"], demo["proc"], demo["log"]

    def served():
        if proc.poll() is not None:
            pytest.fail(f"sitewatch demo exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        return _get(f"{base}/healthz")[0] == 200 and (demo["run"] / "ingest.pid").exists()

    _until("the demo answering /healthz with its ingest worker running", served, timeout=240)
    pids = {name: int((demo["run"] / f"{name}.pid").read_text())
            for name in ("server", "ingest", "simulate") if (demo["run"] / f"{name}.pid").exists()}
    assert {"ingest", "simulate"} <= set(pids), pids

    # The sample models were parsed by the demo process before it became gunicorn's master.
    status, sample = _get(f"{base}/api/v1/models/1")
    assert status == 200 and sample["status"] == "done", sample
    project = sample["project_code"]

    # An upload to the running server is parsed by a gunicorn worker, forked after that parse.
    token = subprocess.run([str(SITEWATCH), "token", "create", "--role", "admin"],
                           env=demo["env"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()[-1]
    body = (ROOT / "sample_ifc" / "residential_ifc4.ifc").read_bytes().replace(
        b"'2025-06-30T12:00:00'", b"'2026-11-24T09:00:00'", 1)     # other bytes: a new version
    status, queued = _get(f"{base}/api/v1/projects/{project}/models", data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})
    assert status == 202, queued
    assert queued["model_id"] != sample["id"] and queued["version"] > sample["version"]

    def parsed():
        model = _get(f"{base}/api/v1/models/{queued['model_id']}")[1]
        return model if model["status"] in ("done", "failed") else None

    model = _until("the uploaded model parsed", parsed)
    assert model["status"] == "done", model["reason"]
    assert model["summary"]["elements"] == sample["summary"]["elements"] == 379

    # A reading published to the broker reaches the sensors collection through the worker.
    sensors = _get(f"{base}/ogc/collections/sensors/items?limit=1")[1]["features"]
    assert sensors, "the demo loaded no sample sensors"
    sensor = sensors[0]
    props = sensor["properties"]
    value = 987.25
    stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-test")
    client.connect(demo["broker"].host, demo["broker"].port)
    client.loop_start()
    try:
        client.publish(f"sitewatch/{props['project_code']}/{props['code']}",
                       json.dumps({"ts": stamp, "value": value}), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()

    def arrived():
        got = _get(f"{base}/ogc/collections/sensors/items/{sensor['id']}")[1]["properties"]
        return got if got["value"] == value else None

    latest = _until("the published reading in the sensors collection", arrived, timeout=30)
    assert datetime.fromisoformat(latest["ts"]) == datetime.fromisoformat(stamp)

    # Ctrl-C in the terminal: the whole foreground group gets SIGINT; everything stops.
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(60) is not None
    _until("no process of the demo left", lambda: not any(map(_alive, pids.values())), 30)
    assert not any(demo["run"].glob("*.pid")), sorted(demo["run"].glob("*"))
