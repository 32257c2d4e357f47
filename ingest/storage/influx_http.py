"""The one module that talks HTTP to InfluxDB (through httpx): `/write`, `/api/v2/write`, `/query`, `/ping`.

It turns responses into the errors of ingest.errors and nothing more: retry policy lives in the writer.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import orjson

from ingest.errors import PermanentStoreError, RequestTooLargeError, TransientStoreError

log = logging.getLogger(__name__)

ApiVersion = Literal["v1", "v2"]
# 401/403/404 (credentials, database) are the deployment's fault, not the message's: keep the data
# (retry, then spool) until someone fixes the settings, rather than dead-lettering every message.
_TRANSIENT = frozenset({401, 403, 404, 408, 425, 429, 500, 502, 503, 504})


class InfluxHttp:
    def __init__(
        self,
        url: str,
        db: str,
        api: ApiVersion = "v1",
        token: str | None = None,
        org: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Authorization": f"Token {token}"} if token else {}
        self.db = db
        self._client = httpx.Client(base_url=url, headers=headers, timeout=timeout, transport=transport)
        if api == "v2":
            path, params = "/api/v2/write", {"bucket": db, "precision": "ms", "org": org or ""}
        else:
            path, params = "/write", {"db": db, "precision": "ms"}
        # Every write goes to the same URL with the same headers: built once, as building them (URL
        # parsing, merging) is more than a quarter of what a small write costs this process.
        template = self._client.build_request(
            "POST",
            path,
            params=params,
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
        )
        self._write_url = template.url
        self._write_headers = [(k, v) for k, v in template.headers.raw if k.lower() != b"content-length"]

    def write(self, body: bytes) -> None:
        """Writes line protocol at ms precision, gzipped."""
        request = httpx.Request(
            "POST", self._write_url, headers=self._write_headers, content=gzip.compress(body, 1)
        )
        self._raise_for(self._send(request))

    def query(self, q: str) -> list[dict[str, Any]]:
        """Runs one InfluxQL statement; returns its series (empty when there are none)."""
        return self.query_many([q])[0]

    def query_many(self, statements: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Runs several InfluxQL statements in one request; returns each one's series, in order."""
        if not statements:
            return []
        # POST: the statements go in the body, which has no URL length limit.
        response = self._send(
            self._client.build_request(
                "POST", "/query", params={"db": self.db, "epoch": "ms"}, data={"q": ";\n".join(statements)}
            )
        )
        self._raise_for(response)
        results = sorted(orjson.loads(response.content)["results"], key=lambda r: r.get("statement_id", 0))
        if len(results) != len(statements):
            raise PermanentStoreError(f"InfluxQL answered {len(results)} of {len(statements)} statements")
        for result in results:
            if "error" in result:
                raise PermanentStoreError(f"InfluxQL error: {result['error']}")
        return [result.get("series", []) for result in results]

    def ping(self) -> bool:
        try:
            return self._send(self._client.build_request("GET", "/ping", timeout=2)).status_code == 204
        except TransientStoreError:
            return False

    def close(self) -> None:
        self._client.close()

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Sends `request` and reads the answer; InfluxDB out of reach is a TransientStoreError.

        The answer comes back without its tie to its body stream: httpx links the two both ways, a
        cycle that only the garbage collector frees, and with it the request's body and the answer. A
        serving process runs that collector rarely (`service.freeze_startup_heap`), so each request
        would otherwise hold its bytes until then."""
        try:
            response = self._client.send(request)
        except httpx.HTTPError as e:
            raise TransientStoreError(f"InfluxDB unreachable: {e!r}") from e
        response.stream = httpx.ByteStream(b"")
        return response

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = response.text[:500]
        if status == 413:
            raise RequestTooLargeError(f"InfluxDB 413: {detail}")
        if status in _TRANSIENT:
            raise TransientStoreError(f"InfluxDB {status}: {detail}", _retry_after(response))
        raise PermanentStoreError(f"InfluxDB {status}: {detail}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        log.debug("ignoring Retry-After %r (not seconds)", value)
        return None
