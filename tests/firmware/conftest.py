"""Fixtures for the firmware tests: virtual boards (the real firmware on the real MicroPython unix
binary, each in its own directory = its flash) that are stopped by pid at the end of the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.boards import Board, make_board_dir

# mp/ holds MicroPython test modules: run under MicroPython by test_fw_mp_units.py, not by pytest.
collect_ignore = ["mp"]


@pytest.fixture
def board_factory(tmp_path: Path, micropython: str) -> Iterator[Callable[..., Board]]:
    boards: list[Board] = []

    def make(
        config: dict[str, Any] | str | None,
        name: str = "board",
        heap: str = "128K",
        start: bool = True,
        flash_kib: int | None = None,
        entry: str = "main.py",
    ) -> Board:
        board = Board(make_board_dir(tmp_path / name, config), heap=heap, entry=entry, flash_kib=flash_kib)
        boards.append(board)
        if start:
            board.start()
        return board

    yield make
    for b in boards:
        b.kill()
