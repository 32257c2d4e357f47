"""The one HTTP client of alert notifications: POSTs a body to a webhook and says how it went."""

from __future__ import annotations

import httpx

from ingest import __version__


class Webhooks:
    def __init__(self, timeout_s: float):
        # No redirects: a receiver answers where it was told to, and a redirect could point anywhere.
        self._client = httpx.Client(
            timeout=timeout_s,
            follow_redirects=False,
            headers={"Content-Type": "application/json", "User-Agent": f"sensorfleet/{__version__}"},
        )

    def post(self, url: str, body: bytes) -> str | None:
        """None when the receiver took it (2xx); else what went wrong, in a line."""
        try:
            response = self._client.post(url, content=body)
        except httpx.HTTPError as e:
            return f"{type(e).__name__}: {e}"[:300] or type(e).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def close(self) -> None:
        self._client.close()
