"""Settings of the HTTP API, from `SENSORFLEET_API_*` environment variables or given directly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DocsMode = Literal["off", "token", "public"]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENSORFLEET_API_", extra="forbid", frozen=True)

    cors_origins: tuple[str, ...] = Field((), description="origins allowed cross-origin; none → CORS off")
    rate_per_s: float = Field(20.0, gt=0, description="sustained requests per second per token")
    rate_burst: int = Field(100, ge=1, description="requests a token may make at once")
    max_points: int = Field(10_000, ge=2, description="most points one series response carries")
    default_points: int = Field(
        1000, ge=2, description="points of a series when neither every nor max_points"
    )
    command_timeout_s: float = Field(60.0, gt=0, description="a command unanswered this long has timed out")
    max_wait_s: float = Field(60.0, ge=0, description="longest `wait` a request may ask for")
    max_streams: int = Field(100, ge=1, description="event streams open at once, over all clients")
    max_streams_per_token: int = Field(5, ge=1, description="event streams one token may hold open at once")
    stream_max_s: float = Field(
        3600.0, gt=0, description="an event stream ends after this; clients reconnect"
    )
    stream_keepalive_s: float = Field(15.0, gt=0, description="comment line sent on an idle event stream")
    auth_failures: int = Field(
        10, ge=1, description="failed authentications a client address may make before it must wait"
    )
    auth_failure_window_s: float = Field(
        60.0, gt=0, description="after those, the client may try once per window / auth_failures seconds"
    )
    docs: DocsMode = Field(
        "token", description="`/openapi.json`: off, with a read token like the API, or open to anyone"
    )
