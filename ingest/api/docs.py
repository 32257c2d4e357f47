"""The OpenAPI document at `/openapi.json`, off, behind a read token or public (`ApiSettings.docs`).

FastAPI's own `/docs` and `/redoc` pages are not served: they load their scripts from a CDN and run an
inline one, which the app's Content-Security-Policy forbids and a LAN without internet cannot load.
The document itself opens in any OpenAPI viewer.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ingest.api.auth import ReadToken
from ingest.api.config import DocsMode

OPENAPI_PATH = "/openapi.json"


def install_docs(app: FastAPI, mode: DocsMode) -> None:
    # FastAPI added its routes when the app was built; they are dropped here, whoever built the app.
    builtin = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in builtin]
    app.openapi_url = app.docs_url = app.redoc_url = app.swagger_ui_oauth2_redirect_url = None
    if mode == "off":
        return

    @app.get(
        OPENAPI_PATH,
        include_in_schema=False,
        dependencies=[ReadToken] if mode == "token" else [],
    )
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())
