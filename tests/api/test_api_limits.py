"""Limits per client and per token in a real `sensorfleet serve`: a client address that keeps failing
to authenticate is held off (and only that one), and one token cannot hold every event stream."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from api.helpers import bearer

from ingest.api.ratelimit import RateLimiter
from ingest.api.tokens import Scope
from support.mosquitto import Mosquitto
from support.serve import ServeProcess

FAILURES = 3
WINDOW_S = 300
STREAMS_PER_TOKEN = 2


@pytest.fixture
def limited(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ServeProcess]:
    found = ServeProcess(
        tmp_path,
        {
            "SENSORFLEET_MQTT_URL": mosquitto.url,
            "SENSORFLEET_CLIENT_ID": "api-limits-test",
            "SENSORFLEET_API_AUTH_FAILURES": str(FAILURES),
            "SENSORFLEET_API_AUTH_FAILURE_WINDOW_S": str(WINDOW_S),
            "SENSORFLEET_API_MAX_STREAMS_PER_TOKEN": str(STREAMS_PER_TOKEN),
        },
    )
    found.start()
    yield found
    found.close()


def client_from(address: str, serve: ServeProcess) -> httpx.Client:
    """A client whose requests come from `address` (any of 127.0.0.0/8 reaches the server)."""
    return httpx.Client(base_url=serve.url, transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_failed_authentication_is_limited_per_client_address(limited: ServeProcess) -> None:
    good = limited.tokens.create(Scope.READ, "good")[0]
    wrong = {"Authorization": "Bearer sft_guess"}
    with client_from("127.0.0.2", limited) as guesser, client_from("127.0.0.3", limited) as operator:
        # Successful requests are not failures: any number of them leaves the limit alone.
        for _ in range(3 * FAILURES):
            assert operator.get("/api/v1/devices", headers=bearer(good)).status_code == 200

        codes = [guesser.get("/api/v1/devices", headers=wrong).status_code for _ in range(FAILURES)]
        assert codes == [401] * FAILURES
        held = guesser.get("/api/v1/devices", headers=wrong)
        assert held.status_code == 429
        assert 0 < int(held.headers["Retry-After"]) <= WINDOW_S / FAILURES + 1
        # Held off whatever it sends, so it cannot go on trying secrets; a missing token counts too.
        assert guesser.get("/api/v1/devices", headers=bearer(good)).status_code == 429
        assert guesser.get("/readyz").status_code == 429

        # Another address is not affected: its own failures still answer 401, its good token 200.
        assert operator.get("/api/v1/devices", headers=wrong).status_code == 401
        assert operator.get("/api/v1/devices", headers=bearer(good)).status_code == 200
        assert guesser.get("/healthz").status_code == 200  # open routes stay open


def test_one_token_holds_at_most_its_share_of_event_streams(limited: ServeProcess) -> None:
    hog, other = (limited.tokens.create(Scope.READ, name)[0] for name in ("hog", "other"))
    with httpx.Client(base_url=limited.url, timeout=10) as client, ExitStack() as streams:
        for _ in range(STREAMS_PER_TOKEN):
            held = streams.enter_context(client.stream("GET", "/api/v1/stream", headers=bearer(hog)))
            assert held.status_code == 200
        with client.stream("GET", "/api/v1/stream", headers=bearer(hog)) as refused:
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        with client.stream("GET", "/api/v1/stream", headers=bearer(other)) as r:
            assert r.status_code == 200


def test_the_failure_counts_of_addresses_that_stopped_failing_are_forgotten() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=2, clock=lambda: now[0], max_keys=10)
    for n in range(10):
        limiter.take(f"10.0.0.{n}")
    assert limiter.wait("10.0.0.1") == 0.0 and limiter.take("10.0.0.1") == 0.0
    assert limiter.wait("10.0.0.1") == 1.0  # spent: waits, and `wait` spent nothing
    now[0] = 5.0  # every bucket has refilled: adding one more drops them all
    limiter.take("10.0.1.0")
    assert len(limiter) == 1
