"""The HTTP layer: the query API (devices, series, CSV export, the event stream and commands, behind
bearer tokens), health and metrics routes, and the dashboard's files; `ingest.app.build_app` puts
them together over a service."""
