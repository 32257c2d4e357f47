"""Fixtures for the provisioning tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from provision_kit import ReplBridge

from support.procs import wait_until


@pytest.fixture
def repl_bridge(tmp_path: Path, micropython: str) -> Iterator[ReplBridge]:
    fsdir = tmp_path / "board-fs"
    fsdir.mkdir()
    bridge = ReplBridge(fsdir, micropython)
    yield bridge
    bridge.close()
    wait_until(bridge.idle, 10, "the virtual board's REPL to exit")
