"""Serves the operators' page (`dashboard/`) and its pinned chart library from the API's own origin.

Nothing loads from a CDN, so the page works on a LAN with no internet. Only the page's own files are
served: its HTML, scripts and styles, and the two files of the chart library it loads; not the npm
manifests beside them nor anything else under `node_modules`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from ingest.errors import ConfigError
from ingest.resources import shipped_dir

UPLOT_DIST = Path("node_modules") / "uplot" / "dist"
VENDOR_FILES = frozenset({"uPlot.iife.min.js", "uPlot.min.css"})
PAGE_SUFFIXES = frozenset({".html", ".js", ".css"})


def is_page_file(path: str) -> bool:
    """The page's own files sit at the top of `dashboard/`; "." is the directory, i.e. index.html."""
    return path == "." or ("/" not in path and Path(path).suffix in PAGE_SUFFIXES)


class ChosenFiles(StaticFiles):
    """StaticFiles that answers 404 for every path `wanted` refuses (paths relative to `directory`)."""

    def __init__(self, directory: Path, wanted: Callable[[str], bool], html: bool = False):
        super().__init__(directory=directory, html=html)
        self.wanted = wanted

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self.wanted(path):
            raise HTTPException(404)
        return await super().get_response(path, scope)


def mount_dashboard(app: FastAPI, root: Path | None = None) -> None:
    root = root or shipped_dir("dashboard", "index.html")
    vendor = root / UPLOT_DIST
    if not (vendor / "uPlot.iife.min.js").is_file():
        raise ConfigError(
            f"the dashboard's chart library is not installed in {vendor}: run `npm ci` in {root} "
            "(`make demo` and `make test` do)"
        )
    app.mount("/vendor", ChosenFiles(vendor, VENDOR_FILES.__contains__), name="vendor")
    app.mount("/", ChosenFiles(root, is_page_file, html=True), name="dashboard")
