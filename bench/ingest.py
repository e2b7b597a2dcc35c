"""Sensor ingest: MQTT publish → committed rows against the COPY floor, and alarm latency.

Run::

    .venv/bin/python bench/ingest.py [--readings 300000] [--sensors 1000] [--latency-seconds 20]
                                     [--batch-sizes 10,100]

One run, one machine (2 cores here, shared by everything below):

* a database: a private cluster in a temporary SITEWATCH_DATA (default settings: fsync and
  synchronous_commit on), or a scratch database on the server of SITEWATCH_DATABASE_URL;
* a Mosquitto of our own on a free port (persistence on, ``sensors.broker``);
* the worker as a user runs it: ``sitewatch ingest mqtt`` in its own process;
* a load generator that must stay cheap: a raw-socket MQTT 3.1.1 publisher (QoS 1, packets
  encoded before the clock starts, PUBACKs counted by a reader thread).

Throughput: N readings (distinct sensor/ts, normal values, so every rule runs and none fires) are
published as fast as the publisher can; the clock stops when ``count(*)`` of the readings table
reaches N (polled on the last reading published, then ``count(*)`` once). Floor: the same N rows,
COPY'd straight from Python (psycopg, binary) into the same table, emptied first. Broker ceiling:
the same messages on a topic the worker does not read, to Mosquitto's own C subscriber
(``mosquitto_sub``, from Debian's mosquitto-clients), which only acknowledges and discards them:
what the broker itself can deliver of each message shape here, whatever the consumer. Batched
payloads: M readings (``--batched-readings``, a few seconds' worth; the table emptied first,
timestamps after the previous phase's so every rule still evaluates every reading), now as messages
of K readings of one sensor (a JSON array), for each K of ``--batch-sizes``; each against the floor
of its own M rows, COPY'd (table emptied) right after the phase, so that both sides meet the
machine in the same state (on a shared 2-core machine the floor alone moves by 2x between runs).
Latency: readings paced at 5,000/s for S seconds while 100 crane sensors cross 100 % of
rated load moment every couple of seconds; each crossing is timed from just before its publish to
the NOTIFY the engine sends when the alarm row commits. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import psycopg

# Run as a script, bench/ is sys.path[0] and its tiles.py and viewer.py would shadow the packages
# of those names: the repository root takes its place.
_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "bench":
    sys.path[0] = str(_ROOT)
from bench import _common as common  # noqa: E402
from sensors.broker import Mosquitto
from spatial import db, sample_city

SITEWATCH = Path(sys.executable).parent / "sitewatch"
TARGET_RATE = 20_000          # readings/s
TARGET_FLOOR_SHARE = 0.50     # of the COPY floor
TARGET_P99_MS = 1000.0
LATENCY_RATE = 5_000          # readings/s during the latency phase
ALARM_SENSORS = 100
# (kind, unit, normal value) of the background sensors: every rule type is exercised.
BACKGROUND = [("pm10", "µg/m³", 42.0), ("noise", "dB(A)", 48.0), ("tilt", "‰", 1.1),
              ("wind_speed", "m/s", 3.2), ("pit_wall_displacement", "mm", 4.0),
              ("crane_load_moment", "%", 35.0)]


# -- a cheap MQTT publisher -----------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class RawPublisher:
    """MQTT 3.1.1 QoS 1 publisher on one socket; a thread counts the PUBACKs."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack("!H", len(cid)) + cid
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        assert self.sock.recv(4) == b"\x20\x02\x00\x00", "CONNACK"
        self.acked = 0
        self.mid = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        received = 0
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            received += len(chunk)
            self.acked = received // 4          # PUBACK is 4 bytes and the only packet we get

    def packet(self, topic: bytes, payload: bytes) -> bytes:
        self.mid = self.mid % 65535 + 1
        body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", self.mid) + payload
        return b"\x32" + _varint(len(body)) + body

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


# -- set-up ----------------------------------------------------------------------------------------

Database = common.BenchDatabase


def make_sensors(url: str, n: int) -> tuple[str, list[tuple[int, str, str, float]]]:
    """A small ledger and n background + ALARM_SENSORS crane sensors on one project."""
    with db.connect(url) as conn:
        db.migrate(conn)
        sample_city.load(conn, projects=5, seed=1)
        project = conn.execute("SELECT id, code FROM sitewatch.project ORDER BY id LIMIT 1"
                               ).fetchone()
        rows = []
        for i in range(n + ALARM_SENSORS):
            kind, unit, normal = BACKGROUND[i % len(BACKGROUND)] if i < n else \
                ("crane_load_moment", "%", 50.0)
            code = f"B{i:05d}" if i < n else f"ALARM{i - n:03d}"
            sid = conn.execute(
                "INSERT INTO sitewatch.sensor (project_id, code, kind, unit, location) VALUES "
                "(%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(120.15, 30.28, 0), 4490)) RETURNING id",
                (project[0], code, kind, unit)).fetchone()[0]
            rows.append((sid, code, kind, normal))
        conn.commit()
    return project[1], rows


def start_worker(url: str, mqtt_url: str, data: Path) -> subprocess.Popen:
    # SITEWATCH_INGEST_* and SITEWATCH_MQTT_FAST_IO pass through (to compare settings).
    env = {k: v for k, v in os.environ.items()
           if k not in ("SITEWATCH_DATABASE_URL", "SITEWATCH_DATA", "SITEWATCH_MQTT_URL")}
    env.update(SITEWATCH_DATABASE_URL=url, SITEWATCH_DATA=str(data))
    log = data / "ingest.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(SITEWATCH), "ingest", "mqtt", "--url", mqtt_url,
                                 "--no-notify"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while "subscribed to" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the ingest worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM sitewatch.reading").fetchone()[0]


def wait_for(conn: psycopg.Connection, n: int, last: tuple[int, datetime],
             timeout: float = 600.0) -> float:
    """The time the readings table holds all n rows.

    The worker commits in the order the broker delivers, which is the order of publication, so
    the last published reading is the last to commit: that is what is polled (an index lookup),
    then ``count(*)`` once.  Polling ``count(*)`` itself, a scan of the growing table every
    20 ms, took a good part of a core from the very server being measured."""
    deadline = time.perf_counter() + timeout
    while True:
        if conn.execute("SELECT EXISTS (SELECT FROM sitewatch.reading WHERE sensor_id = %s "
                        "AND ts = %s)", last).fetchone()[0]:
            done = time.perf_counter()
            if count(conn) >= n:
                return done
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {count(conn)} of {n} rows after {timeout:.0f} s")
        time.sleep(0.002)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat()


# -- phases ----------------------------------------------------------------------------------------

def packets_for(pub: RawPublisher, code: str, sensors: list, n: int, per_message: int = 1,
                t0: float | None = None, prefix: str = "sitewatch"
                ) -> tuple[list[bytes], list[tuple], int]:
    """(send chunks, the rows they hold in the order they are published, the number of
    messages) for n readings of the background sensors.

    ``per_message`` readings of one sensor go in each message (a JSON array when more than
    one); the messages of the sensors take turns, as gateways' would."""
    background = [s for s in sensors if not s[1].startswith("ALARM")]
    t0 = time.time() - 7200 if t0 is None else t0
    rows, packets = [], []
    per_sensor: dict[str, list[tuple[dict, tuple]]] = {}
    for i in range(n):
        sid, scode, _, normal = background[i % len(background)]
        t = t0 + i // len(background)
        value = normal + (i % 7) * 0.1
        reading = {"ts": iso(t), "value": value, "seq": i}
        row = (sid, datetime.fromtimestamp(t, timezone.utc), value, i)
        if per_message == 1:
            packets.append(pub.packet(f"{prefix}/{code}/{scode}".encode(),
                                      json.dumps(reading).encode()))
            rows.append(row)
        else:
            per_sensor.setdefault(scode, []).append((reading, row))
    if per_message > 1:
        queues = [(scode, [items[j:j + per_message] for j in range(0, len(items), per_message)])
                  for scode, items in per_sensor.items()]
        for turn in range(max(len(q) for _, q in queues)):
            for scode, q in queues:
                if turn < len(q):
                    packets.append(pub.packet(f"{prefix}/{code}/{scode}".encode(),
                                              json.dumps([r for r, _ in q[turn]]).encode()))
                    rows += [row for _, row in q[turn]]
    step = max(1, 2000 // per_message)
    chunks = [b"".join(packets[i:i + step]) for i in range(0, len(packets), step)]
    return chunks, rows, len(packets)


def throughput(pub: RawPublisher, conn: psycopg.Connection, code: str, sensors: list,
               n: int, per_message: int = 1, t0: float | None = None
               ) -> tuple[float, float, list[tuple]]:
    """(readings/s end to end, publish rate, the rows for the floor)."""
    chunks, rows, _ = packets_for(pub, code, sensors, n, per_message, t0)
    start = time.perf_counter()
    for chunk in chunks:
        pub.send(chunk)
    published = time.perf_counter()
    end = wait_for(conn, n, rows[-1][:2])
    return n / (end - start), n / (published - start), rows


def broker_ceiling(host: str, port: int, code: str, sensors: list, n: int,
                   per_message: int = 1) -> float | None:
    """Readings/s Mosquitto delivers of the throughput phase's message shape to a consumer that
    costs nothing: Mosquitto's own C client (``mosquitto_sub``, QoS 1, acknowledging and
    discarding), on a topic the worker does not read.  None when ``mosquitto_sub`` is missing."""
    program = shutil.which("mosquitto_sub")
    if program is None:
        return None
    pub = RawPublisher(host, port, f"bench-ceiling-{per_message}")
    try:
        # "ceiling__" has the length of "sitewatch": the same bytes per message.
        chunks, _, messages = packets_for(pub, code, sensors, n, per_message, prefix="ceiling__")
        sub = subprocess.Popen([program, "-h", host, "-p", str(port), "-q", "1", "-t",
                                "ceiling__/+/+", "-C", str(messages), "-N", "-F", "%l"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)    # connected and subscribed (it prints nothing until then)
        start = time.perf_counter()
        for chunk in chunks:
            pub.send(chunk)
        try:
            sub.wait(600)
        except subprocess.TimeoutExpired:
            sub.kill()
            raise RuntimeError("mosquitto_sub did not receive every message") from None
        if sub.returncode:
            raise RuntimeError(f"mosquitto_sub failed: {sub.stderr.read().decode()[-300:]}")
        return n / (time.perf_counter() - start)
    finally:
        pub.close()


def floor(conn: psycopg.Connection, rows: list[tuple]) -> float:
    conn.execute("TRUNCATE sitewatch.reading")
    start = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy("COPY sitewatch.reading (sensor_id, ts, value, seq) FROM STDIN "
                      "(FORMAT BINARY)") as copy:
            copy.set_types(["int8", "timestamptz", "float8", "int8"])
            for row in rows:
                copy.write_row(row)
    return len(rows) / (time.perf_counter() - start)


def latency(pub: RawPublisher, url: str, code: str, sensors: list, seconds: float,
            warmup: float = 2.0) -> tuple[list[float], float, int]:
    """Crossing → committed alarm latencies (s), the achieved rate, readings sent."""
    sent_at: dict[tuple[int, int], float] = {}
    seen: dict[tuple[int, int], float] = {}
    stop = threading.Event()

    def listen() -> None:
        with psycopg.connect(url, autocommit=True) as listener:
            listener.execute("LISTEN sitewatch_alarm")
            while not stop.is_set():
                for note in listener.notifies(timeout=0.2):
                    got = time.time()
                    msg = json.loads(note.payload)
                    if msg["event"] == "opened":
                        t = datetime.fromisoformat(msg["ts"]).timestamp()
                        seen[(msg["sensor_id"], round(t * 1000))] = got

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(0.5)
    per_tick, tick = LATENCY_RATE // 100, 0.01
    crossing_every = 10          # every 10th reading of an alarm sensor crosses 100 %
    turns: dict[int, int] = {}
    order = list(range(len(sensors)))
    k, sent = 0, 0
    start = time.perf_counter()
    next_tick = start
    while (now := time.perf_counter()) < start + warmup + seconds:
        if now < next_tick:
            time.sleep(next_tick - now)
        wall = time.time()
        chunk, crossings = [], []
        for _ in range(per_tick):
            sid, scode, _, normal = sensors[order[k % len(order)]]
            k += 1
            value = normal
            if scode.startswith("ALARM"):
                turns[sid] = turns.get(sid, 0) + 1
                if turns[sid] % crossing_every == 0:
                    value = 105.0
                    crossings.append((sid, round(wall * 1000)))
            chunk.append(pub.packet(f"sitewatch/{code}/{scode}".encode(),
                                    json.dumps({"ts": iso(wall), "value": value}).encode()))
        before = time.time()
        pub.send(b"".join(chunk))
        sent += len(chunk)
        if time.perf_counter() - start >= warmup:
            for key in crossings:
                sent_at[key] = before
        next_tick += tick
    rate = sent / (time.perf_counter() - start)
    time.sleep(3.0)   # late alarms still count (and show in p99)
    stop.set()
    thread.join(timeout=5)
    missing = [key for key in sent_at if key not in seen]
    if missing:
        print(f"warning: {len(missing)} of {len(sent_at)} crossings raised no alarm in time",
              file=sys.stderr)
    return [seen[key] - t for key, t in sent_at.items() if key in seen], rate, sent


def _ceiling_rows(shape: str, rate: float, ceiling: float | None) -> list[list]:
    if ceiling is None:
        return [[f"broker ceiling{shape}", "n/a: no mosquitto_sub (apt-get install "
                 "mosquitto-clients)", "", ""]]
    return [[f"broker ceiling{shape}: mosquitto_sub, ack only (readings/s)", ceiling, "", ""],
            [f"MQTT{shape} / broker ceiling", f"{rate / ceiling:.0%}", "", ""]]


# -- main ------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=300_000,
                        help="readings of the one-reading-per-message phase and of the floor")
    parser.add_argument("--batched-readings", type=int, default=1_000_000,
                        help="readings of each batched phase (a few seconds each)")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--batch-sizes", default="10,100,1000",
                        help="readings per message of the batched rows, comma-separated ('' for "
                        "none)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    args = parser.parse_args(argv)
    batch_sizes = [int(k) for k in args.batch_sizes.split(",") if k.strip()]
    common.raise_on_sigterm()
    data = Path(tempfile.mkdtemp(prefix="sitewatch-bench-ingest-"))
    data.chmod(0o755)
    database = Database(data)
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, data, ignore_errors=True)
        stack.callback(database.stop)
        url = database.start()
        code, sensors = make_sensors(url, args.sensors)
        broker = stack.enter_context(Mosquitto(data / "mqtt"))
        worker = start_worker(url, broker.url, data)
        stack.callback(lambda: (os.killpg(worker.pid, signal.SIGTERM), worker.wait(30)))
        host, port = broker.host, broker.port
        with psycopg.connect(url, autocommit=True) as conn:
            pub = RawPublisher(host, port, "bench-throughput")
            t0 = time.time() - 7200
            rate, pub_rate, rows = throughput(pub, conn, code, sensors, args.readings, t0=t0)
            pub.close()
            copy_rate = floor(conn, rows)
            ceilings = {k: broker_ceiling(host, port, code, sensors,
                                          args.batched_readings if k > 1 else args.readings, k)
                        for k in [1, *batch_sizes]}
            batched = []
            span = max(args.readings, args.batched_readings) // max(1, args.sensors) + 60
            if t0 + (len(batch_sizes) + 1) * span > time.time():
                raise SystemExit("too many readings per sensor for the batched phases' "
                                 "timestamps to stay in the past: use more --sensors")
            for turn, k in enumerate(batch_sizes, start=1):
                conn.execute("TRUNCATE sitewatch.reading")
                pub = RawPublisher(host, port, f"bench-throughput-{k}")
                k_rate, k_pub_rate, k_rows = throughput(pub, conn, code, sensors,
                                                        args.batched_readings, per_message=k,
                                                        t0=t0 + turn * span)
                pub.close()
                # The floor of this phase: its own rows, right after it, so a machine whose
                # speed drifts during the run (2x between runs here) meets both sides alike.
                batched.append((k, k_rate, k_pub_rate, floor(conn, k_rows)))
            pub = RawPublisher(host, port, "bench-latency")
            lat, lat_rate, lat_sent = latency(pub, url, code, sensors, args.latency_seconds)
            pub.close()
        share = rate / copy_rate
        p50, p99 = (common.percentile(lat, q) * 1000 for q in (50, 99))
        print(f"\nsensor ingest, {common.cores()} cores, {args.readings:,} readings one per "
              f"message and {args.batched_readings:,} per batched shape over "
              f"{args.sensors:,} sensors; broker {broker.url}; worker: sitewatch ingest mqtt\n")
        def verdict(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        table = [
            ["MQTT publish → committed rows (readings/s)", rate, f"≥ {TARGET_RATE:,}",
             verdict(rate >= TARGET_RATE)],
            ["COPY floor from Python (rows/s)", copy_rate, "", ""],
            ["MQTT / floor", f"{share:.0%}", f"≥ {TARGET_FLOOR_SHARE:.0%}",
             verdict(share >= TARGET_FLOOR_SHARE)],
            ["publisher alone (readings/s)", pub_rate, "", ""],
        ]
        table += _ceiling_rows("", rate, ceilings[1])
        for k, k_rate, k_pub_rate, k_floor in batched:
            table += [
                [f"MQTT, {k} readings/message → committed rows (readings/s)", k_rate,
                 f"≥ {TARGET_RATE:,}", verdict(k_rate >= TARGET_RATE)],
                ["COPY floor, the same rows (rows/s)", k_floor, "", ""],
                [f"MQTT, {k} readings/message / floor", f"{k_rate / k_floor:.0%}",
                 f"≥ {TARGET_FLOOR_SHARE:.0%}", verdict(k_rate / k_floor >= TARGET_FLOOR_SHARE)],
                [f"publisher alone, {k} readings/message (readings/s)", k_pub_rate, "", ""],
            ]
            table += _ceiling_rows(f", {k} readings/message", k_rate, ceilings[k])
        common.print_table(["measure", "value", "target", "result"], table + [
            [f"latency phase rate (readings/s, {lat_sent:,} sent)", lat_rate,
             f"{LATENCY_RATE:,}", ""],
            [f"alarm latency p50 (ms, {len(lat)} alarms)", p50, "", ""],
            ["alarm latency p99 (ms)", p99, f"≤ {TARGET_P99_MS:,.0f}",
             "PASS" if p99 <= TARGET_P99_MS else "FAIL"],
        ])
        print()
        print(f"{'PASS' if rate >= TARGET_RATE else 'FAIL'}: sustained {rate:,.0f} readings/s "
              f"(target ≥ {TARGET_RATE:,})")
        print(f"{'PASS' if share >= TARGET_FLOOR_SHARE else 'FAIL'}: {share:.0%} of the COPY "
              f"floor {copy_rate:,.0f} rows/s (target ≥ {TARGET_FLOOR_SHARE:.0%})"
              + (f"; the broker alone delivers {ceilings[1] / copy_rate:.0%} of it in one-reading "
                 "messages" if ceilings[1] else ""))
        for k, k_rate, _, k_floor in batched:
            k_share = k_rate / k_floor
            print(f"{verdict(k_rate >= TARGET_RATE and k_share >= TARGET_FLOOR_SHARE)}: "
                  f"{k} readings/message: {k_rate:,.0f} readings/s, {k_share:.0%} of the COPY "
                  f"floor of its rows {k_floor:,.0f} rows/s (targets ≥ {TARGET_RATE:,} "
                  f"readings/s, ≥ {TARGET_FLOOR_SHARE:.0%})")
        print(f"{'PASS' if p99 <= TARGET_P99_MS else 'FAIL'}: alarm latency p99 {p99:,.0f} ms, "
              f"p50 {p50:,.0f} ms at {lat_rate:,.0f} readings/s (target p99 ≤ "
              f"{TARGET_P99_MS:,.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
