"""Serves the operators' page (`dashboard/`) and its pinned chart library from the API's own origin.

Nothing loads from a CDN, so the page works on a LAN with no internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ingest.errors import ConfigError
from ingest.resources import shipped_dir

UPLOT_DIST = Path("node_modules") / "uplot" / "dist"


def mount_dashboard(app: FastAPI, root: Path | None = None) -> None:
    root = root or shipped_dir("dashboard", "index.html")
    vendor = root / UPLOT_DIST
    if not (vendor / "uPlot.iife.min.js").is_file():
        raise ConfigError(
            f"the dashboard's chart library is not installed in {vendor}: run `npm ci` in {root} "
            "(`make demo` and `make test` do)"
        )
    app.mount("/vendor", StaticFiles(directory=vendor), name="vendor")
    app.mount("/", StaticFiles(directory=root, html=True), name="dashboard")
