"""`/healthz`, `/readyz` and `/metrics` on the service's FastAPI app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from ingest.service import IngestService


def install_health(app: FastAPI, service: IngestService, guard: Sequence[Any] = ()) -> None:
    """`guard`: dependencies (e.g. the API's read-token check) in front of `/readyz` and `/metrics`;
    `/healthz` stays open so that a process supervisor can probe it without credentials."""

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """The process is alive; a full spool is reported here too, since it needs an operator."""
        health = service.health()
        return JSONResponse({"status": health.problem or "ok", **asdict(health)})

    @app.get("/readyz", dependencies=list(guard))
    def readyz() -> JSONResponse:
        """Ready: connected to the broker, the store takes writes, and the spool has room."""
        health = service.health()
        return JSONResponse(
            {"ready": health.ready, **asdict(health)}, status_code=200 if health.ready else 503
        )

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=list(guard))
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4")
