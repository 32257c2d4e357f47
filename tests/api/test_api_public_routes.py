"""What a real `sensorfleet serve` answers without a token: `/healthz` and the page's own files, and the
OpenAPI document only when `SENSORFLEET_API_DOCS` says so; never the npm files beside the page."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api.helpers import bearer

from ingest.api.tokens import Scope
from support.mosquitto import Mosquitto
from support.serve import ServeProcess

PAGE = [
    "/",
    "/index.html",
    "/app.js",
    "/dom.js",
    "/style.css",
    "/vendor/uPlot.iife.min.js",
    "/vendor/uPlot.min.css",
]
NEVER = [
    "/package.json",
    "/package-lock.json",
    "/node_modules/",
    "/node_modules/uplot/package.json",
    "/node_modules/uplot/dist/uPlot.iife.min.js",
    "/vendor/uPlot.esm.js",
    "/vendor/uPlot.d.ts",
    "/vendor/",
    "/docs",
    "/redoc",
    "/docs/oauth2-redirect",
]


def served(tmp_path: Path, mosquitto: Mosquitto, docs: str | None) -> ServeProcess:
    env = {"SENSORFLEET_MQTT_URL": mosquitto.url, "SENSORFLEET_CLIENT_ID": "public-routes-test"}
    if docs is not None:
        env["SENSORFLEET_API_DOCS"] = docs
    found = ServeProcess(tmp_path, env)
    found.start()
    return found


@pytest.mark.parametrize("docs", [None, "off", "token", "public"])
def test_only_health_the_page_and_the_chosen_docs_answer_without_a_token(
    tmp_path: Path, mosquitto: Mosquitto, docs: str | None
) -> None:
    serve = served(tmp_path, mosquitto, docs)
    try:
        for path in [*PAGE, "/healthz"]:
            assert httpx.get(serve.url + path).status_code == 200, path
        for path in NEVER:
            assert httpx.get(serve.url + path).status_code == 404, path
            assert serve.http.get(path).status_code == 404, f"{path} with a token"
        read = bearer(serve.tokens.create(Scope.READ)[0])
        anonymous = httpx.get(f"{serve.url}/openapi.json")
        with_token = httpx.get(f"{serve.url}/openapi.json", headers=read)
        if docs == "off":
            assert (anonymous.status_code, with_token.status_code) == (404, 404)
        elif docs == "public":
            assert anonymous.status_code == 200 and "/api/v1/devices" in anonymous.json()["paths"]
        else:  # the default: like every API route
            assert anonymous.status_code == 401
            assert with_token.status_code == 200 and "/api/v1/devices" in with_token.json()["paths"]
    finally:
        serve.close()
