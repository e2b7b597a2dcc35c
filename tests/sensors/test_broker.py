"""Which broker ``sitewatch demo`` uses (DESIGN.md): SITEWATCH_MQTT_URL, else one answering on
127.0.0.1:1883, else a Mosquitto of its own (1883, or a free port when 1883 is taken)."""

from __future__ import annotations

import socket

import pytest

from sensors import broker as brokers


def test_parse_url():
    assert brokers.parse_url("mqtt://10.0.0.5:1884") == ("10.0.0.5", 1884)
    assert brokers.parse_url("mqtt://broker.example") == ("broker.example", 1883)
    assert brokers.parse_url("tcp://127.0.0.1:9") == ("127.0.0.1", 9)
    with pytest.raises(ValueError):
        brokers.parse_url("http://x:1")


def test_the_configured_url_wins(tmp_path):
    url, own = brokers.choose("mqtt://example.invalid:1999", tmp_path)
    assert (url, own) == ("mqtt://example.invalid:1999", None)


def test_a_broker_answering_on_the_default_port_is_used(broker, tmp_path, monkeypatch):
    monkeypatch.setattr(brokers, "DEFAULT_PORT", broker.port)
    url, own = brokers.choose(None, tmp_path)
    assert (url, own) == (f"mqtt://127.0.0.1:{broker.port}", None)


def test_otherwise_one_of_our_own_on_the_default_port(tmp_path, monkeypatch):
    port = brokers.free_port()
    monkeypatch.setattr(brokers, "DEFAULT_PORT", port)
    url, own = brokers.choose(None, tmp_path / "mq")
    try:
        assert own is not None and url == f"mqtt://127.0.0.1:{port}"
        assert brokers.probe("127.0.0.1", port)
        conf = (tmp_path / "mq" / "mosquitto.conf").read_text()
        assert "persistence true" in conf and "max_queued_messages" in conf
    finally:
        own.stop()
    assert not brokers.probe("127.0.0.1", port)


def test_or_on_a_free_port_when_the_default_is_taken_by_something_else(tmp_path, monkeypatch):
    with socket.socket() as squatter:            # listens, but is no MQTT broker
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        monkeypatch.setattr(brokers, "DEFAULT_PORT", squatter.getsockname()[1])
        url, own = brokers.choose(None, tmp_path / "mq")
        try:
            assert own is not None and own.port != squatter.getsockname()[1]
            assert brokers.probe("127.0.0.1", own.port)
        finally:
            own.stop()
