"""Live IoT readings: MQTT/HTTP ingest, thresholds, alarms and notifications."""
