"""Time-series stores (InfluxDB over HTTP, embedded SQLite), their shared query semantics, and the spool."""
