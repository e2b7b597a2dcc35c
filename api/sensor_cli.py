"""``sitewatch ingest mqtt``, ``sitewatch sensors simulate|notify|load-sample`` and the live part of
``sitewatch demo`` (broker, ingest worker and simulator as child processes)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from api.settings import Settings
from sensors.settings import SensorSettings

logger = logging.getLogger("sitewatch")

_SELF = "from api.cli import run; run()"


def mqtt_url(explicit: str | None, settings: Settings) -> str:
    """--url, else SITEWATCH_MQTT_URL, else what a running demo wrote, else 127.0.0.1:1883."""
    if explicit:
        return explicit
    env = SensorSettings().mqtt_url
    if env:
        return env
    written = settings.app.run_dir / "mqtt.url"
    if written.exists():
        return written.read_text(encoding="utf-8").strip()
    return "mqtt://127.0.0.1:1883"


def _stop_on_signals(stop: Callable[[], None]) -> None:
    def handler(signum, frame):  # noqa: ARG001
        logger.info("signal %s: stopping", signum)
        stop()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def register(main: click.Group, settings_fn: Callable[[], Settings], connect: Callable) -> None:
    """Add the sensor commands to the ``sitewatch`` group."""

    @main.group("ingest")
    def ingest_group() -> None:
        """Readings in from site gateways."""

    @ingest_group.command("mqtt")
    @click.option("--url", default=None, help="mqtt://host:port (default: SITEWATCH_MQTT_URL, "
                  "$SITEWATCH_DATA/run/mqtt.url, mqtt://127.0.0.1:1883)")
    @click.option("--client-id", default=None, help="MQTT client id of the persistent session.")
    @click.option("--notify/--no-notify", default=True, show_default=True,
                  help="Also deliver webhook notifications from this process.")
    def ingest_mqtt(url: str | None, client_id: str | None, notify: bool) -> None:
        """Run the MQTT ingest worker (QoS 1, persistent session, ack after commit)."""
        from sensors.mqtt import IngestWorker
        from spatial import db

        settings = settings_fn()
        with connect(settings):
            pass  # cluster started, schema migrated
        sensor_settings = SensorSettings()
        if client_id:
            sensor_settings.mqtt_client_id = client_id
        worker = IngestWorker(db.resolve_url(settings.database, start=False), sensor_settings,
                              mqtt_url(url, settings), dispatch=notify)
        _stop_on_signals(worker.stop)
        worker.run()

    @main.group("sensors")
    def sensors_group() -> None:
        """Site sensors: simulator, notifications, sample set."""

    @sensors_group.command("simulate")
    @click.option("--url", default=None, help="Broker (as for ingest mqtt).")
    @click.option("--rate", type=click.FloatRange(1, 1e6), default=2000, show_default=True,
                  help="At most this many readings per second.")
    @click.option("--speed", type=click.FloatRange(1, 1e6), default=600, show_default=True,
                  help="Simulated seconds per real second until the simulation reaches now.")
    @click.option("--backfill-hours", type=click.FloatRange(0, 24 * 60), default=48,
                  show_default=True, help="Start this many hours ago.")
    @click.option("--interval", type=click.FloatRange(1, 3600), default=60, show_default=True,
                  help="Seconds between two readings of a sensor (simulated time).")
    @click.option("--duration", type=click.FloatRange(0.1, None), default=None,
                  help="Stop after this many real seconds (default: run until stopped).")
    def simulate(url: str | None, rate: float, speed: float, backfill_hours: float,
                 interval: float, duration: float | None) -> None:
        """Publish realistic readings for every registered sensor."""
        from sensors import simulate as sim
        from spatial import db

        settings = settings_fn()
        with connect(settings):
            pass
        stop = threading.Event()
        _stop_on_signals(stop.set)
        sent = sim.run(db.resolve_url(settings.database, start=False), mqtt_url(url, settings),
                       rate=rate, speed=speed, backfill_hours=backfill_hours, interval_s=interval,
                       duration_s=duration, stop=stop)
        click.echo(json.dumps({"sent": sent}))

    @sensors_group.command("notify")
    def notify() -> None:
        """Deliver webhook notifications only (when ingest runs with --no-notify)."""
        from sensors.notify import Dispatcher
        from spatial import db

        settings = settings_fn()
        with connect(settings):
            pass
        stop = threading.Event()
        _stop_on_signals(stop.set)
        dispatcher = Dispatcher(db.resolve_url(settings.database, start=False), SensorSettings(),
                                stop)
        dispatcher.start()
        while dispatcher.is_alive():
            dispatcher.join(timeout=0.5)

    @sensors_group.command("load-sample")
    @click.option("--seed", type=int, default=1, show_default=True)
    def load_sample(seed: int) -> None:
        """(Re)create the sample sensors on sites of the loaded ledger."""
        from sensors.sample import load_sensors

        with connect(settings_fn()) as conn:
            click.echo(json.dumps(load_sensors(conn, seed=seed), ensure_ascii=False))


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-c", _SELF, *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@contextmanager
def live_sensors(settings: Settings) -> Iterator[None]:
    """For ``sitewatch demo``: sample sensors if there are none, a broker (DESIGN.md's order),
    the ingest worker and the simulator, all stopped again on exit."""
    from sensors import broker
    from sensors.sample import load_sensors
    from spatial import db

    url = db.resolve_url(settings.database, start=False)
    with db.connect(url) as conn:
        none = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM sitewatch.sensor)").fetchone()[0]  # type: ignore[index]
        if none:
            click.echo(f"sample sensors: {json.dumps(load_sensors(conn, seed=1), ensure_ascii=False)}")
    data = settings.database.data_dir
    run_dir = settings.app.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        broker_url, own = broker.choose(SensorSettings().mqtt_url, data / "mqtt")
    except RuntimeError as exc:
        click.echo(f"sitewatch: no MQTT broker, sensors will not move: {exc}", err=True)
        yield
        return
    (run_dir / "mqtt.url").write_text(broker_url + "\n", encoding="utf-8")
    if own is not None and own.proc is not None:
        (run_dir / "mqtt.pid").write_text(f"{own.proc.pid}\n", encoding="utf-8")
    env = {**os.environ, "SITEWATCH_MQTT_URL": broker_url}
    worker = sim = None
    try:
        worker = _spawn(["ingest", "mqtt", "--url", broker_url], env, data / "ingest.log")
        (run_dir / "ingest.pid").write_text(f"{worker.pid}\n", encoding="utf-8")
        sim = _spawn(["sensors", "simulate", "--url", broker_url], env, data / "simulate.log")
        (run_dir / "simulate.pid").write_text(f"{sim.pid}\n", encoding="utf-8")
        click.echo(f"sensors: broker {broker_url}"
                   f"{' (ours)' if own else ''}, ingest worker pid {worker.pid}, simulator pid "
                   f"{sim.pid} (logs in {data})")
        yield
    finally:
        broker.terminate(sim)
        broker.terminate(worker)
        if own is not None:
            own.stop()
        for name in ("mqtt.url", "mqtt.pid", "ingest.pid", "simulate.pid"):
            (run_dir / name).unlink(missing_ok=True)
