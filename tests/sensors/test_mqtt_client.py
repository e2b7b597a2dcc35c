"""IngestClient's fast path: PUBLISH packets cut straight out of what the socket read, everything
else (and every packet split across two reads) left to paho, nothing lost or delivered twice."""

from __future__ import annotations

import socket
import struct

import paho.mqtt.client as mqtt
import pytest

from sensors.mqtt_client import FAST_IO_SUPPORTED, IngestClient

pytestmark = pytest.mark.skipif(not FAST_IO_SUPPORTED, reason="paho without the private hooks")


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: bytes, payload: bytes, mid: int = 0, qos: int = 1, dup: bool = False) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    return bytes([0x30 | (qos << 1) | (0x08 if dup else 0)]) + varint(len(body + payload)) + \
        body + payload


def client() -> IngestClient:
    return IngestClient(mqtt.CallbackAPIVersion.VERSION2, client_id="test-ingest",
                        protocol=mqtt.MQTTv311, manual_ack=True)


def test_cut_takes_complete_qos0_and_qos1_publishes_and_stops_at_anything_else():
    big = b"x" * 20_000                                   # a three-byte remaining length
    data = (publish(b"sitewatch/P/S", b"[1]", mid=7)
            + publish(b"sitewatch/P/T", b"{}", qos=0)
            + publish(b"sitewatch/P/U", big, mid=65535, dup=True)
            + b"\x62\x02\x00\x09"                         # PUBREL: paho's
            + publish(b"sitewatch/P/V", b"after", mid=8))
    c = client()
    c._chunk, c._chunk_pos = data, 0
    assert c._cut_publishes() == [(7, 1, b"sitewatch/P/S", b"[1]"), (0, 0, b"sitewatch/P/T", b"{}"),
                                  (65535, 1, b"sitewatch/P/U", big)]
    assert data[c._chunk_pos] == 0x62
    c._chunk_pos += 4
    assert c._cut_publishes() == [(8, 1, b"sitewatch/P/V", b"after")]
    assert c._chunk_pos == len(data)


@pytest.mark.parametrize("cut", [1, 2, 5, 20])
def test_cut_leaves_an_incomplete_packet(cut):
    whole = publish(b"sitewatch/P/S", b"y" * 300, mid=3)
    c = client()
    c._chunk, c._chunk_pos = publish(b"a/b/c", b"1", mid=1) + whole[:cut], 0
    assert [m[0] for m in c._cut_publishes()] == [1]
    assert c._chunk[c._chunk_pos:] == whole[:cut]


def test_qos2_goes_to_paho():
    c = client()
    c._chunk, c._chunk_pos = publish(b"a/b/c", b"1", mid=1, qos=2), 0
    assert c._cut_publishes() == [] and c._chunk_pos == 0


def test_every_message_arrives_once_in_order_across_split_reads():
    """Real socket reads: the fast path, paho's path for the packet split across two reads."""
    here, there = socket.socketpair()
    got: list[tuple[int, bytes]] = []
    by_paho: list[int] = []
    c = client()
    c.on_publish_batch = lambda batch: got.extend((mid, payload) for mid, _, _, payload in batch)

    def on_message(cl, userdata, msg: mqtt.MQTTMessage) -> None:
        got.append((msg.mid, msg.payload))
        by_paho.append(msg.mid)

    c.on_message = on_message
    c._sock = here
    here.setblocking(False)                                # as paho's own socket
    try:
        packets = [publish(b"sitewatch/P/S", b"%d" % i * (i % 50), mid=i + 1) for i in range(300)]
        stream = b"".join(packets)
        half = len(stream) // 2 + 3                        # inside a packet
        there.sendall(stream[:half])
        for _ in range(50):
            assert c.loop_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        first = len(got)
        assert 0 < first < len(packets)
        there.sendall(stream[half:])
        for _ in range(50):
            assert c.loop_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        assert got == [(i + 1, b"%d" % i * (i % 50)) for i in range(300)]
        # The first packet of each read and the one split between them went through paho.
        assert 1 <= len(by_paho) <= 3 and first + 1 in by_paho
    finally:
        c._sock = None
        here.close()
        there.close()
