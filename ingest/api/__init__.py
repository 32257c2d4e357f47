"""The HTTP query API: devices, series, CSV export, the event stream and commands, behind bearer tokens.

`create_api(...)` builds the FastAPI app from the parts of the service it needs (see `ports`), so the
same app runs inside `sensorfleet serve` and standalone in tests.
"""

from ingest.api.app import create_api, install_api

__all__ = ["create_api", "install_api"]
