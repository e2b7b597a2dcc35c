"""The MQTT ingest worker: QoS 1, a persistent session, acknowledgement after the commit.

Topic ``{prefix}/{project_code}/{sensor_code}``; payload one reading ``{"ts", "value", "unit"?,
"seq"?}``, or several of that sensor as a JSON array of such objects or ``{"readings": [...]}``
(at most ``ingest_max_readings_per_message``; see :mod:`sensors.ingest` for what is checked and
what becomes a dead letter).

The worker connects with a fixed client id and ``clean_session=False``, so the broker keeps its
subscription and queues readings while it is away.  Three threads, one stage each, so that
Python's work on one batch overlaps PostgreSQL's on another:

- paho's network thread checks each message (:meth:`sensors.ingest.Checker.take`, against the
  sensor registry as last loaded) and queues it with its readings and rejects (or, for a
  gateway's batch, its :class:`sensors.columns.Run`); nothing is acknowledged on receipt
  (``manual_ack=True``; with ``fast_io`` the PUBLISH packets of a whole read arrive as one list,
  see :mod:`sensors.mqtt_client`);
- the main thread takes what arrived (at most ``ingest_max_batch`` messages and about
  ``ingest_max_batch_readings`` readings), reads the stamps of all its runs at once and makes
  the batch columns (:meth:`sensors.ingest.Checker.settle`), and hands it to
- the writer thread, which holds the database connection: it reloads the registry, checks again
  a batch prepared against an older one, writes it with :func:`sensors.ingest.write_batch` in one
  transaction, and only after the commit sends the PUBACKs.  It takes one batch at a time, in
  order; the main thread prepares at most one ahead.

A message with several readings is acknowledged once all of them (and the dead letters of its
bad ones) are committed.  A crash at any point leaves the uncommitted messages unacknowledged;
the broker sends them again and the primary key ``(sensor_id, ts)`` with ``ON CONFLICT DO
NOTHING`` drops what was already stored.

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
import queue
import sys
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import psycopg

from sensors import broker
from sensors.columns import Columns
from sensors.engine import Engine
from sensors.ingest import BatchResult, Checker, Partitions, Reading, Rejected, Run, write_batch
from sensors.mqtt_client import IngestClient, Publish
from sensors.notify import Dispatcher
from sensors.registry import Registry
from sensors.settings import SensorSettings

logger = logging.getLogger(__name__)

Item = tuple[int, int, int, str, bytes]   # (connection generation, mid, qos, topic, payload)
# A message, what it was checked into and the registry version it was checked against.
Taken = tuple[Item, list[Reading | Rejected] | Run, int | None]


@dataclass
class Prepared:
    """A batch made ready for the writer thread against one registry version."""

    batch: list[Taken]
    version: int | None
    readings: Columns
    rejected: list[Rejected]


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
        self._conn: psycopg.Connection | None = None    # the writer thread's, once it runs
        self._client: IngestClient | None = None
        self.prepared: queue.Queue[Prepared | None] = queue.Queue(maxsize=1)
        self.writer_error: BaseException | None = None

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
        parsed = Checker(self.registry, self.settings).take(topic, payload)
        self.inbox.append(((self.generation, msg.mid, msg.qos, topic, payload), parsed, version))
        self.pending_in += len(parsed)
        self._hold_back()

    def _on_publish_batch(self, batch: list[Publish]) -> None:
        """The PUBLISH packets of one read (``IngestClient`` with ``fast_io``)."""
        generation, append, count = self.generation, self.inbox.append, 0
        version = self.registry.version     # read before the lookups (see _write)
        check = Checker(self.registry, self.settings).take
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
        # The writer thread waits on PostgreSQL a dozen times a batch and needs the GIL back
        # after each wait, while the network thread checks messages without pause: with
        # Python's 5 ms switch interval it queued behind it each time (bench/ingest.py, 1,000
        # readings per message: 302-334k readings/s at 5 ms, 344-362k at 0.5 ms).
        sys.setswitchinterval(0.0005)
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
        writer = threading.Thread(target=self._writer, name="sitewatch-ingest-writer", daemon=True)
        writer.start()
        next_report = time.monotonic() + 10
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
                    prepared = self._prepare(batch)
                    while not self.stop_event.is_set():   # the writer takes one at a time
                        try:
                            self.prepared.put(prepared, timeout=idle)
                            break
                        except queue.Full:
                            pass
                now = time.monotonic()
                if now >= next_report:
                    self._report()
                    next_report = now + 10
        finally:
            while writer.is_alive():    # the writer finishes what it holds, then stops
                try:
                    self.prepared.put(None, timeout=0.1)
                    break
                except queue.Full:
                    pass
            writer.join()
            client.disconnect()
            client.loop_stop()
            if dispatcher is not None:
                dispatcher.join(timeout=10)
            if self._conn is not None:
                self._conn.close()
            self._report()
        if self.writer_error is not None:
            raise self.writer_error

    def _writer(self) -> None:
        """The writer thread: each prepared batch in turn, written, committed, acknowledged."""
        next_partitions = time.monotonic() + 3600
        try:
            while (prepared := self.prepared.get()) is not None:
                if self._process(prepared.batch, prepared):
                    self._ack(prepared.batch)
                if time.monotonic() >= next_partitions:
                    self._safely(lambda c: self.partitions.ensure_around(c))
                    next_partitions = time.monotonic() + 3600
        except BaseException as exc:   # not a database error (those are handled): stop, report
            logger.exception("the ingest writer failed")
            self.writer_error = exc
            self.stop_event.set()

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

    def _process(self, batch: list[Taken], prepared: Prepared | None = None) -> bool:
        """Write a batch (retrying while the database is away); False when stopping unwritten."""
        while True:
            try:
                self._write(batch, prepared)
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

    def _prepare(self, batch: list[Taken]) -> Prepared:
        """A batch's readings as columns and its rejects, against the registry as last loaded."""
        # The network thread reads the registry's version before its lookups, and refresh()
        # sets the version last: a message checked against an older registry (a sensor added,
        # renamed or removed since) says so, and is checked again.
        version = self.registry.version
        check = Checker(self.registry, self.settings)
        parts = [parsed if checked == version else check.take(item[3], item[4])
                 for item, parsed, checked in batch]
        return Prepared(batch, version, *check.settle(parts))

    def _write(self, batch: list[Taken], prepared: Prepared | None = None) -> BatchResult:
        conn = self._connection()
        with conn.transaction():
            self.registry.refresh(conn)
        if prepared is None or prepared.version != self.registry.version:
            prepared = self._prepare(batch)     # a split batch, or the registry moved on
        result = write_batch(conn, prepared.readings, prepared.rejected,
                             partitions=self.partitions, engine=self.engine,
                             registry=self.registry)
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
