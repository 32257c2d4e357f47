"""Bytes in, points out: telemetry and status payloads, and InfluxDB line protocol."""
