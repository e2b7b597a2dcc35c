"""paho-mqtt's client with cheaper I/O for a high-rate QoS 1 subscriber.

paho 2 reads each packet's fixed header one ``recv()`` per byte, builds an ``MQTTMessage`` and
goes through its callback machinery for every PUBLISH, and ``ack(mid, qos)`` queues one 4-byte
PUBACK and wakes the network thread for every message.  At tens of thousands of messages a second
that is most of the worker's CPU.  :class:`IngestClient` changes only the I/O, inside paho's own
code paths:

- reads arrive in 256 KiB chunks, and every complete packet in a chunk is handled in one wake-up
  (``_sock_recv`` serves paho's small reads from the chunk; ``loop_read`` drains it);
- with an ``on_publish_batch`` callback set, the complete QoS 0/1 PUBLISH packets at the front of
  a chunk (MQTT 3.1.1) are cut out of it directly and handed over as one list of
  ``(mid, qos, topic bytes, payload)``; anything else (CONNACK, SUBACK, PINGRESP, QoS 2, a packet
  split across two reads) goes through paho as before, and so does everything when the callback
  is not set;
- :meth:`IngestClient.ack_many` queues the PUBACKs of a whole batch as one write, in the order
  given, through the same queue ``ack`` uses, so they never interleave with another packet.

The protocol on the wire is unchanged (the same PUBACK packets, the same order).  It relies on
private parts of paho 2.x (``_sock_recv``, ``_packet_read``, ``_in_packet``, ``_packet_queue``,
``_last_bytes_received``); when they are missing, or ``fast_io`` is off
(``SITEWATCH_MQTT_FAST_IO=false``), it behaves exactly as ``paho.mqtt.client.Client`` with
``on_message`` and ``ack`` per message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt

PUBACK = 0x40
_CHUNK = 256 * 1024
FAST_IO_SUPPORTED = (mqtt.__name__ == "paho.mqtt.client"
                     and all(hasattr(mqtt.Client, name) for name in
                             ("_sock_recv", "_packet_queue", "_sock_close", "loop_read",
                              "_packet_read"))
                     and hasattr(mqtt, "time_func"))

Publish = tuple[int, int, bytes, bytes]     # (mid, qos, topic, payload)


class IngestClient(mqtt.Client):
    def __init__(self, *args, fast_io: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fast_io = fast_io and FAST_IO_SUPPORTED
        self.on_publish_batch: Callable[[list[Publish]], None] | None = None
        self._chunk = b""
        self._chunk_pos = 0

    # -- reading ----------------------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.fast_io:
            return super()._sock_recv(bufsize)
        if self._chunk_pos >= len(self._chunk):
            data = super()._sock_recv(_CHUNK)   # BlockingIOError propagates as in paho
            if not data:
                return data
            self._chunk, self._chunk_pos = data, 0
        start = self._chunk_pos
        self._chunk_pos = min(start + bufsize, len(self._chunk))
        return self._chunk[start:self._chunk_pos]

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while (self.fast_io and rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
               and self._chunk_pos < len(self._chunk)):
            rc = super().loop_read(max_packets)
        return rc

    def _packet_read(self) -> mqtt.MQTTErrorCode:
        callback = self.on_publish_batch
        if (callback is not None and self.fast_io and self._in_packet["command"] == 0
                and self._chunk_pos < len(self._chunk) and self._protocol != mqtt.MQTTv5):
            batch = self._cut_publishes()
            if batch:
                with self._msgtime_mutex:
                    self._last_bytes_received = mqtt.time_func()
                callback(batch)
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_read()

    def _cut_publishes(self) -> list[Publish]:
        """The complete QoS 0/1 PUBLISH packets at the front of the chunk, taken out of it."""
        buf, pos, end = self._chunk, self._chunk_pos, len(self._chunk)
        out: list[Publish] = []
        while pos < end:
            command = buf[pos]
            qos = (command >> 1) & 3
            if command & 0xF0 != 0x30 or qos > 1:
                break
            i, length, shift = pos + 1, 0, 0
            while i < end and shift <= 21:
                byte = buf[i]
                i += 1
                length |= (byte & 127) << shift
                shift += 7
                if byte < 128:
                    break
            else:
                break                     # length incomplete (or malformed): paho's turn
            stop = i + length
            if stop > end or length < 2:
                break
            topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1])
            if qos:
                if topic_end + 2 > stop:
                    break
                mid = (buf[topic_end] << 8) | buf[topic_end + 1]
                start = topic_end + 2
            else:
                if topic_end > stop:
                    break
                mid, start = 0, topic_end
            out.append((mid, qos, buf[i + 2:topic_end], buf[start:stop]))
            pos = stop
        self._chunk_pos = pos
        return out

    def _sock_close(self) -> None:
        self._chunk, self._chunk_pos = b"", 0   # bytes of a closed connection mean nothing
        super()._sock_close()

    # -- acknowledging ----------------------------------------------------------------------------

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACK each QoS 1 message id, in order (one write when ``fast_io``)."""
        if not mids:
            return
        if not self.fast_io:
            for mid in mids:
                self.ack(mid, 1)
            return
        # PUBACK: 0x40, remaining length 2, packet id; four bytes = one big-endian uint32.
        packets = struct.pack(f"!{len(mids)}I", *((0x4002 << 16) | mid for mid in mids))
        self._packet_queue(PUBACK, packets, 0, 1)
