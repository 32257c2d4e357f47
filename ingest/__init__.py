"""sensorfleet ingest: MQTT intake, storage, registry, HTTP API and the `sensorfleet` CLI."""

__version__ = "0.1.0"
