"""The MQTT ingest worker: QoS 1, a persistent session, acknowledgement after the commit.

Topic ``{prefix}/{project_code}/{sensor_code}``; payload one reading ``{"ts", "value", "unit"?,
"seq"?}``, or several of that sensor as a JSON array of such objects or ``{"readings": [...]}``
(at most ``ingest_max_readings_per_message``; see :mod:`sensors.ingest` for what is checked and
what becomes a dead letter).

The worker connects with a fixed client id and ``clean_session=False``, so the broker keeps its
subscription and queues readings while it is away.  paho's network thread checks each message
(:meth:`sensors.ingest.Checker.message`, against the sensor registry as last loaded) and appends
it with its readings and rejects to a queue; nothing is acknowledged on receipt
(``manual_ack=True``; with ``fast_io`` the PUBLISH packets of a whole read arrive as one list,
see :mod:`sensors.mqtt_client`).  So the checking of the next batch overlaps the database work of
the current one.  The main thread takes what arrived while the previous batch was being written
(at most ``ingest_max_batch`` messages and about ``ingest_max_batch_readings`` readings), checks
again the messages checked against an older registry than the one it just loaded, writes the
batch with :func:`sensors.ingest.write_batch` in one transaction, and only after the commit sends
the PUBACKs: a message with several readings is acknowledged once all of them (and the dead
letters of its bad ones) are committed.  A crash at any point leaves the uncommitted messages
unacknowledged; the broker sends them again and the primary key ``(sensor_id, ts)`` with ``ON
CONFLICT DO NOTHING`` drops what was already stored.

PUBACKs go only to messages received on the current connection: after a reconnect the broker
re-sends every unacknowledged message with its original packet id, and acknowledging an older copy
could acknowledge a new message that reuses the id.

A batch the database refuses for a reason other than a lost connection is split in halves until
the culprit is alone; it becomes a ``db_error`` dead letter and the worker carries on.
"""

from __future__ import annotations

import collections
import gc
import logging
import threading
import time

import paho.mqtt.client as mqtt
import psycopg

from sensors import broker
from sensors.engine import Engine
from sensors.ingest import BatchResult, Checker, Partitions, Reading, Rejected, write_batch
from sensors.mqtt_client import IngestClient, Publish
from sensors.notify import Dispatcher
from sensors.registry import Registry
from sensors.settings import SensorSettings

logger = logging.getLogger(__name__)

Item = tuple[int, int, int, str, bytes]   # (connection generation, mid, qos, topic, payload)
# A message, what it was checked into and the registry version it was checked against.
Taken = tuple[Item, list[Reading | Rejected], int | None]


def tune_gc() -> None:
    """Garbage-collector settings for a process that ingests at full rate.

    Reference counting frees a batch's readings as soon as it is written; the cyclic collector
    has nothing to find in them, yet with Python's default thresholds (a collection every 700
    net allocations) it keeps walking them, and every object the process imported at start, a
    third of the worker's CPU at a few hundred thousand readings a second.  What exists now is
    frozen out of collection and collections run less often (cycles are still collected)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class IngestWorker:
    def __init__(self, database_url: str, settings: SensorSettings, mqtt_url: str, *,
                 dispatch: bool = True) -> None:
        self.database_url = database_url
        self.settings = settings
        self.mqtt_url = mqtt_url
        self.host, self.port = broker.parse_url(mqtt_url)
        self.dispatch = dispatch
        self.stop_event = threading.Event()
        self.subscribed = threading.Event()
        self.inbox: collections.deque[Taken] = collections.deque()
        # Readings (and rejects) received and taken: each counter has one writer thread.
        self.pending_in = 0
        self.pending_out = 0
        self.generation = 0
        self.registry = Registry()
        self.partitions = Partitions()
        self.engine = Engine()
        self.totals: collections.Counter[str] = collections.Counter()
        self._conn: psycopg.Connection | None = None
        self._client: IngestClient | None = None

    # -- paho callbacks (network thread) ------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker %s refused the connection: %s", self.mqtt_url, reason_code)
            return
        self.generation += 1
        topic = f"{self.settings.mqtt_topic_prefix}/+/+"
        logger.info("connected to %s as %s (session present: %s)", self.mqtt_url,
                    self.settings.mqtt_client_id, flags.session_present)
        client.subscribe(topic, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            logger.error("subscription refused: %s", reason_codes)
            return
        logger.info("subscribed to %s/+/+ on %s", self.settings.mqtt_topic_prefix, self.mqtt_url)
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self.stop_event.is_set():
            logger.warning("disconnected from %s (%s); reconnecting", self.mqtt_url, reason_code)

    def _on_message(self, client: mqtt.Client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "<topic is not UTF-8>"
        payload = msg.payload if type(msg.payload) is bytes else bytes(msg.payload)
        version = self.registry.version     # read before the lookups (see _write)
        parsed = Checker(self.registry, self.settings).message(topic, payload)
        self.inbox.append(((self.generation, msg.mid, msg.qos, topic, payload), parsed, version))
        self.pending_in += len(parsed)
        self._hold_back()

    def _on_publish_batch(self, batch: list[Publish]) -> None:
        """The PUBLISH packets of one read (``IngestClient`` with ``fast_io``)."""
        generation, append, count = self.generation, self.inbox.append, 0
        version = self.registry.version     # read before the lookups (see _write)
        check = Checker(self.registry, self.settings).message
        for mid, qos, topic, payload in batch:
            try:
                name = topic.decode()
            except UnicodeDecodeError:
                name = "<topic is not UTF-8>"
            parsed = check(name, payload)
            append(((generation, mid, qos, name, payload), parsed, version))
            count += len(parsed)
        self.pending_in += count
        self._hold_back()

    def _hold_back(self) -> None:
        """Back-pressure: stop reading the socket while the writer is far behind."""
        while (self.pending_in - self.pending_out > self.settings.ingest_max_pending
               and not self.stop_event.is_set()):
            time.sleep(0.01)

    # -- main loop ------------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """Run until :meth:`stop`; returns after the current batch is written and acknowledged."""
        self._connection()
        with self._conn.transaction():  # type: ignore[union-attr]
            self.registry.refresh(self._conn)  # type: ignore[arg-type]
        self.partitions.ensure_around(self._conn)  # type: ignore[arg-type]
        if self.settings.ingest_gc_tuning:
            tune_gc()
        dispatcher = None
        if self.dispatch:
            dispatcher = Dispatcher(self.database_url, self.settings, self.stop_event)
            dispatcher.start()
        client = IngestClient(mqtt.CallbackAPIVersion.VERSION2,
                              client_id=self.settings.mqtt_client_id, clean_session=False,
                              protocol=mqtt.MQTTv311, manual_ack=True,
                              fast_io=self.settings.mqtt_fast_io)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish_batch = self._on_publish_batch
        client.reconnect_delay_set(min_delay=0.2, max_delay=5)  # type: ignore[arg-type]
        self._client = client
        client.connect_async(self.host, self.port, keepalive=self.settings.mqtt_keepalive)
        client.loop_start()
        next_report = time.monotonic() + 10
        next_partitions = time.monotonic() + 3600
        try:
            idle = self.settings.ingest_idle_ms / 1000.0
            linger = self.settings.ingest_linger_ms / 1000.0
            full = self.settings.ingest_max_batch_readings
            waiting_since = None    # when the main thread first saw the inbox non-empty
            while not self.stop_event.is_set():
                now = time.monotonic()
                if not self.inbox:
                    self.stop_event.wait(idle)
                elif (self.pending_in - self.pending_out < full
                      and now - (waiting_since := waiting_since or now) < linger):
                    # Let a short batch fill a little: the rule engine's work per sensor and
                    # batch (lock, state row) is paid once for all its readings in the batch.
                    self.stop_event.wait(min(idle, linger))
                else:
                    waiting_since = None
                    batch = self._take()
                    if self._process(batch):
                        self._ack(batch)
                now = time.monotonic()
                if now >= next_report:
                    self._report()
                    next_report = now + 10
                if now >= next_partitions:
                    self._safely(lambda c: self.partitions.ensure_around(c))
                    next_partitions = now + 3600
        finally:
            client.disconnect()
            client.loop_stop()
            if dispatcher is not None:
                dispatcher.join(timeout=10)
            if self._conn is not None:
                self._conn.close()
            self._report()

    def _take(self) -> list[Taken]:
        """The next batch from the inbox: at most ``ingest_max_batch`` messages, and no more
        once it holds ``ingest_max_batch_readings`` readings."""
        inbox = self.inbox
        batch: list[Taken] = []
        max_messages = self.settings.ingest_max_batch
        max_readings = self.settings.ingest_max_batch_readings
        readings = 0
        while inbox and len(batch) < max_messages and readings < max_readings:
            taken = inbox.popleft()
            batch.append(taken)
            readings += len(taken[1])
        self.pending_out += readings
        return batch

    def _ack(self, batch: list[Taken]) -> None:
        client, generation = self._client, self.generation
        assert client is not None
        client.ack_many([mid for (gen, mid, qos, _, _), _, _ in batch
                         if qos == 1 and gen == generation])
        for (gen, mid, qos, _, _), _, _ in batch:
            if qos == 2 and gen == generation:
                client.ack(mid, qos)

    def _report(self) -> None:
        t = self.totals
        if t["messages"]:
            logger.info("ingest: %d messages in %d batches, %d new readings, %d duplicates, "
                        "%d dead letters, %d alarm events", t["messages"], t["batches"],
                        t["accepted"], t["duplicate"], t["rejected"], t["events"])

    # -- writing --------------------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        while self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.database_url, autocommit=True,
                                             application_name="sitewatch-ingest")
            except psycopg.OperationalError as exc:
                logger.warning("database unavailable (%s); retrying", str(exc).strip())
                if self.stop_event.wait(self.settings.ingest_retry_s):
                    raise
        return self._conn

    def _safely(self, work) -> None:
        try:
            work(self._connection())
        except psycopg.Error as exc:
            logger.warning("maintenance step failed: %s", exc)

    def _process(self, batch: list[Taken]) -> bool:
        """Write a batch (retrying while the database is away); False when stopping unwritten."""
        while True:
            try:
                self._write(batch)
                return True
            except psycopg.OperationalError as exc:
                logger.warning("batch of %d not written (%s); retrying", len(batch),
                               str(exc).strip())
                self._discard_connection()
                if self.stop_event.wait(self.settings.ingest_retry_s):
                    return False
            except psycopg.Error as exc:
                self.engine.forget()
                if len(batch) > 1:
                    logger.warning("batch of %d refused (%s); splitting", len(batch), exc)
                    half = len(batch) // 2
                    return self._process(batch[:half]) and self._process(batch[half:])
                try:
                    self._dead_letter_db_error(batch[0][0], exc)
                    return True
                except psycopg.OperationalError:
                    self._discard_connection()
                    if self.stop_event.wait(self.settings.ingest_retry_s):
                        return False

    def _discard_connection(self) -> None:
        self.engine.forget()
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _write(self, batch: list[Taken]) -> BatchResult:
        conn = self._connection()
        with conn.transaction():
            self.registry.refresh(conn)
        # The network thread reads the registry's version before its lookups, and refresh()
        # sets the version last: a message checked against an older registry (a sensor added,
        # renamed or removed since) says so, and is checked again.
        version = self.registry.version
        check = None
        readings: list[Reading] = []
        rejected: list[Rejected] = []
        for item, parsed, checked in batch:
            if checked != version:
                check = check or Checker(self.registry, self.settings)
                parsed = check.message(item[3], item[4])
            for one in parsed:
                (readings if type(one) is Reading else rejected).append(one)  # type: ignore[arg-type]
        result = write_batch(conn, readings, rejected, partitions=self.partitions,
                             engine=self.engine, registry=self.registry)
        self.totals.update(messages=len(batch), batches=1, accepted=result.accepted,
                           duplicate=result.duplicate, rejected=result.rejected,
                           events=len(result.events))
        return result

    def _dead_letter_db_error(self, item: Item, exc: psycopg.Error) -> None:
        _, _, _, topic, payload = item
        logger.error("message on %s refused by the database: %s", topic, exc)
        reject = Rejected("db_error", str(exc)[:500], bytes(payload), topic)
        write_batch(self._connection(), [], [reject], partitions=self.partitions)
        self.totals.update(messages=1, rejected=1)
