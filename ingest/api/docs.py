"""The OpenAPI document at `/openapi.json`, off, behind a read token or public (`ApiSettings.docs`).

FastAPI's own `/docs` and `/redoc` pages are not served: they load their scripts from a CDN and run an
inline one, which the app's Content-Security-Policy forbids and a LAN without internet cannot load.
The document itself opens in any OpenAPI viewer.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ingest import __version__
from ingest.api.auth import ReadToken
from ingest.api.config import DocsMode

OPENAPI_PATH = "/openapi.json"


def new_app() -> FastAPI:
    """The sensorfleet app, without FastAPI's own documentation routes (`install_docs` adds ours)."""
    return FastAPI(title="sensorfleet", version=__version__, openapi_url=None, docs_url=None, redoc_url=None)


def install_docs(app: FastAPI, mode: DocsMode) -> None:
    """Adds `/openapi.json` as `mode` says, to an app made by `new_app`."""
    if mode == "off":
        return

    @app.get(
        OPENAPI_PATH,
        include_in_schema=False,
        dependencies=[ReadToken] if mode == "token" else [],
    )
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())
