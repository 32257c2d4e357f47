"""Every kind of response of a real `sensorfleet serve` carries the security headers: the page and its
files, the API's answers and errors, health, metrics and the event stream."""

from __future__ import annotations

import httpx

from ingest.api.headers import SECURITY_HEADERS
from support.serve import ServeProcess

PATHS = [
    ("/", 200),
    ("/app.js", 200),
    ("/style.css", 200),
    ("/vendor/uPlot.iife.min.js", 200),
    ("/no-such-file", 404),
    ("/healthz", 200),
    ("/readyz", 200),
    ("/metrics", 200),
    ("/api/v1/devices", 200),
    ("/api/v1/devices/no-such-device", 404),
    ("/api/v1/devices/dev-1/series?metric=bad%20name", 422),
]


def assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers.get(name))


def test_every_kind_of_response_carries_the_security_headers(serve: ServeProcess) -> None:
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    for path, status in PATHS:
        r = serve.http.get(path)
        assert r.status_code == status, (path, r.status_code, r.text[:200])
        assert_secured(r)
    assert_secured(httpx.get(f"{serve.url}/api/v1/devices"))  # 401, no token
    with serve.http.stream("GET", "/api/v1/stream") as stream:
        assert stream.status_code == 200
        assert_secured(stream)
