"""Unit tests that RUN UNDER MICROPYTHON (the real unix binary, heap capped at 128K): each
tests/firmware/mp/test_*.py module is executed with mptest, in a fresh temp dir as its flash, on the
firmware compiled as a board gets it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.boards import MP_TESTS, make_board_dir

from support.micropython import micropython_binary

MODULES = sorted(p.stem for p in MP_TESTS.glob("test_*.py"))


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_board_dir(tmp_path_factory.mktemp("firmware"), None)


def run_mp_module(
    name: str, cwd: Path, firmware: Path, heap: str = "128K", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    paths = [str(firmware), str(MP_TESTS)]
    code = f"import sys\nsys.path[:0] = {paths!r}\nimport mptest\nmptest.run({name!r})\n"
    return subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heap}", "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("module", MODULES)
def test_micropython_module(module: str, tmp_path: Path, firmware: Path) -> None:
    r = run_mp_module(module, tmp_path, firmware)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"MicroPython tests in mp/{module}.py failed (exit {r.returncode}):\n{out}"
    assert "PASS" in out and "FAIL" not in out, out


def test_a_failing_micropython_assertion_fails_the_wrapper(tmp_path: Path) -> None:
    (tmp_path / "test_meta_fail.py").write_text("def test_fails():\n    assert 1 == 2\n")
    code = (
        f"import sys\nsys.path[:0] = [{str(MP_TESTS)!r}, '.']\nimport mptest\nmptest.run('test_meta_fail')\n"
    )
    r = subprocess.run(
        [micropython_binary(), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 1
    assert "FAIL test_fails" in r.stdout
