"""The MQTT ingest worker: QoS 1, a persistent session, acknowledgement after the commit.

Topic ``{prefix}/{project_code}/{sensor_code}``; payload ``{"ts", "value", "unit"?, "seq"?}``.

The worker connects with a fixed client id and ``clean_session=False``, so the broker keeps its
subscription and queues readings while it is away.  paho's network thread only appends each
message to a queue (``manual_ack=True``: nothing is acknowledged on receipt).  The main thread
takes everything that arrived while the previous batch was being written (at most
``ingest_max_batch``), writes it with :func:`sensors.ingest.write_batch` in one transaction, and
only after the commit sends the PUBACKs.  A crash at any point leaves the uncommitted messages
unacknowledged; the broker sends them again and ``ON CONFLICT DO NOTHING`` drops what was already
stored.

PUBACKs go only to messages received on the current connection: after a reconnect the broker
re-sends every unacknowledged message with its original packet id, and acknowledging an older copy
could acknowledge a new message that reuses the id.

A batch the database refuses for a reason other than a lost connection is split in halves until
the culprit is alone; it becomes a ``db_error`` dead letter and the worker carries on.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import paho.mqtt.client as mqtt
import psycopg

from sensors import broker
from sensors.engine import Engine
from sensors.ingest import BatchResult, Checker, Partitions, Reading, Rejected, write_batch
from sensors.mqtt_client import IngestClient
from sensors.notify import Dispatcher
from sensors.registry import Registry
from sensors.settings import SensorSettings

logger = logging.getLogger(__name__)

Item = tuple[int, int, int, str, bytes | bytearray]   # (connection generation, mid, qos, topic, payload)


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
        self.inbox: collections.deque[Item] = collections.deque()
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
        self.inbox.append((self.generation, msg.mid, msg.qos, topic, msg.payload))
        # Back-pressure: stop reading the socket while the writer is far behind.
        while len(self.inbox) > self.settings.ingest_max_pending and not self.stop_event.is_set():
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
        client.reconnect_delay_set(min_delay=0.2, max_delay=5)  # type: ignore[arg-type]
        self._client = client
        client.connect_async(self.host, self.port, keepalive=self.settings.mqtt_keepalive)
        client.loop_start()
        next_report = time.monotonic() + 10
        next_partitions = time.monotonic() + 3600
        try:
            while not self.stop_event.is_set():
                if not self.inbox:
                    self.stop_event.wait(self.settings.ingest_idle_ms / 1000.0)
                else:
                    n = min(len(self.inbox), self.settings.ingest_max_batch)
                    batch = [self.inbox.popleft() for _ in range(n)]
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

    def _ack(self, batch: list[Item]) -> None:
        client, generation = self._client, self.generation
        assert client is not None
        client.ack_many([mid for gen, mid, qos, _, _ in batch if qos == 1 and gen == generation])
        for gen, mid, qos, _, _ in batch:
            if qos == 2 and gen == generation:
                client.ack(mid, qos)

    def _report(self) -> None:
        t = self.totals
        if t["messages"]:
            logger.info("ingest: %d messages, %d new readings, %d duplicates, %d dead letters, "
                        "%d alarm events", t["messages"], t["accepted"], t["duplicate"],
                        t["rejected"], t["events"])

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

    def _process(self, batch: list[Item]) -> bool:
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
                    self._dead_letter_db_error(batch[0], exc)
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

    def _write(self, batch: list[Item]) -> BatchResult:
        conn = self._connection()
        with conn.transaction():
            self.registry.refresh(conn)
        check = Checker(self.registry, self.settings)
        readings: list[Reading] = []
        rejected: list[Rejected] = []
        for _, _, _, topic, payload in batch:
            item = check.mqtt(topic, bytes(payload))
            (readings if type(item) is Reading else rejected).append(item)  # type: ignore[arg-type]
        result = write_batch(conn, readings, rejected, partitions=self.partitions,
                             engine=self.engine, registry=self.registry)
        self.totals.update(messages=len(batch), accepted=result.accepted,
                           duplicate=result.duplicate, rejected=result.rejected,
                           events=len(result.events))
        return result

    def _dead_letter_db_error(self, item: Item, exc: psycopg.Error) -> None:
        _, _, _, topic, payload = item
        logger.error("message on %s refused by the database: %s", topic, exc)
        reject = Rejected("db_error", str(exc)[:500], bytes(payload), topic)
        write_batch(self._connection(), [], [reject], partitions=self.partitions)
        self.totals.update(messages=1, rejected=1)
