"""Settings of ingest, alarms and notifications, from ``SITEWATCH_*`` environment variables.

Built by the CLI (or a test) and passed down; nothing is created at import time.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SensorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="ignore")

    # Broker: SITEWATCH_MQTT_URL (mqtt://host:port).  Unset: see sensors.broker.choose.
    mqtt_url: str | None = None
    mqtt_client_id: str = "sitewatch-ingest"       # fixed: the persistent session is keyed by it
    mqtt_topic_prefix: str = "sitewatch"
    mqtt_keepalive: int = Field(default=30, ge=5)
    mqtt_fast_io: bool = True                      # sensors.mqtt_client: chunked reads, batched PUBACKs

    # Batching: a batch is whatever arrived while the previous one was written, at most this many
    # messages and (a message may carry several readings) about this many readings.
    ingest_max_batch: int = Field(default=10_000, ge=1, le=60_000)
    ingest_max_batch_readings: int = Field(default=50_000, ge=1)
    ingest_idle_ms: float = Field(default=5.0, gt=0)          # poll interval when nothing waits
    # How long a batch short of ingest_max_batch_readings may wait for more (adds at most this
    # to the latency of a reading; each sensor's state is locked and written once per batch).
    ingest_linger_ms: float = Field(default=50.0, ge=0)
    ingest_max_pending: int = Field(default=200_000, ge=1000)  # readings received, not written
    ingest_max_future_skew_s: float = Field(default=300.0, ge=0)
    ingest_max_age_days: float = Field(default=400.0, gt=0)
    ingest_max_payload_bytes: int = Field(default=262_144, ge=256)
    ingest_max_readings_per_message: int = Field(default=1000, ge=1)   # a JSON array of readings
    ingest_retry_s: float = Field(default=1.0, gt=0)           # pause after a failed write
    ingest_gc_tuning: bool = True                  # sensors.mqtt.tune_gc in the worker process

    # Webhook delivery.
    notify_poll_s: float = Field(default=1.0, gt=0)
    notify_timeout_s: float = Field(default=10.0, gt=0)
    notify_backoff_base_s: float = Field(default=2.0, gt=0)
    notify_backoff_max_s: float = Field(default=3600.0, gt=0)
    notify_max_attempts: int = Field(default=20, ge=1)
    notify_batch: int = Field(default=20, ge=1)
