"""paho-mqtt's client with cheaper I/O for a high-rate QoS 1 subscriber.

paho 2 reads each packet's fixed header one ``recv()`` per byte and goes back to ``select()``
after every packet; ``ack(mid, qos)`` queues one 4-byte PUBACK and wakes the network thread for
every message.  At tens of thousands of messages a second that is most of the worker's CPU.
:class:`IngestClient` changes only the I/O, inside paho's own code paths:

- reads arrive in 256 KiB chunks, and every complete packet in a chunk is handled in one wake-up
  (``_sock_recv`` serves paho's small reads from the chunk; ``loop_read`` drains it);
- :meth:`IngestClient.ack_many` queues the PUBACKs of a whole batch as one write, in the order
  given, through the same queue ``ack`` uses, so they never interleave with another packet.

The protocol on the wire is unchanged (the same PUBACK packets, the same order).  It relies on
two private methods of paho 2.x (``_sock_recv`` and ``_packet_queue``); when they are missing, or
``fast_io`` is off (``SITEWATCH_MQTT_FAST_IO=false``), it behaves exactly as ``paho.mqtt.client.Client``
with ``ack`` per message.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import paho.mqtt.client as mqtt

PUBACK = 0x40
_CHUNK = 256 * 1024
FAST_IO_SUPPORTED = (mqtt.__name__ == "paho.mqtt.client"
                     and all(hasattr(mqtt.Client, name) for name in
                             ("_sock_recv", "_packet_queue", "_sock_close", "loop_read")))


class IngestClient(mqtt.Client):
    def __init__(self, *args, fast_io: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fast_io = fast_io and FAST_IO_SUPPORTED
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
