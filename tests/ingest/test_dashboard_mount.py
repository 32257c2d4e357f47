"""The dashboard is served from the API's origin with its pinned chart library, never from a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ingest.api.dashboard import mount_dashboard
from ingest.errors import ConfigError
from ingest.resources import shipped_dir


def test_page_and_chart_library_are_served() -> None:
    app = FastAPI()
    mount_dashboard(app)
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200 and "<title>sensorfleet</title>" in page.text
    assert client.get("/vendor/uPlot.iife.min.js").text.startswith("/*! https://github.com/leeoniya/uPlot")
    assert client.get("/app.js").status_code == 200


def test_page_loads_nothing_from_another_origin() -> None:
    root = shipped_dir("dashboard", "index.html")
    for name in ("index.html", "app.js", "api.js", "fleet.js", "device.js", "charts.js", "style.css"):
        text = (root / name).read_text()
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), name
        assert "cdn" not in text.lower(), name


def test_missing_chart_library_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    with pytest.raises(ConfigError, match="npm ci"):
        mount_dashboard(FastAPI(), tmp_path)
