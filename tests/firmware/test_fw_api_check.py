"""The firmware's use of MicroPython's modules, checked by mypy against the published stubs of each
port it runs on (micropython-esp32-stubs and micropython-unix-stubs 1.29, installed by `make` under
.venv/stubs/), with a small overlay (typecheck/overlay/) where a stub is known to be wrong. Each port
is checked on the files its boards get (firmware/shipped.json), alone: an import of a file the board
does not get is an error too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.boards import FIRMWARE

from ingest.provision.firmware_tree import read_tree

HERE = Path(__file__).parent / "typecheck"
STUBS = Path(sys.prefix) / "stubs"
PLATFORMS = {"esp32": "esp32", "unix": "linux"}  # board profile -> sys.platform


def board_files(port: str, dest: Path) -> Path:
    """The files a board of `port` gets, written to `dest`."""
    for name, data in read_tree(FIRMWARE, port).items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
    return dest


def mypy(port: str, root: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    stubs = STUBS / port
    if not (stubs / "machine.pyi").is_file():
        pytest.fail(f"no MicroPython {port} stubs in {stubs}: run `make test` (or `make .venv/stubs/...`)")
    modules = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    env = {**os.environ, "MYPYPATH": f"{HERE / 'overlay'}{os.pathsep}{stubs}"}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(HERE / "mypy.ini"), "--custom-typeshed-dir",
         str(stubs), "--platform", PLATFORMS[port], "--cache-dir", str(cache), *modules],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("port", sorted(PLATFORMS))
def test_firmware_uses_only_what_the_port_has(port: str, tmp_path: Path) -> None:
    r = mypy(port, board_files(port, tmp_path / "fw"), tmp_path / "cache")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_check_flags_an_api_the_esp32_port_no_longer_has(tmp_path: Path) -> None:
    # esp.dht_readinto moved to machine in MicroPython 1.20.
    tree = board_files("esp32", tmp_path / "fw")
    hal = tree / "hal" / "esp32.py"
    text = hal.read_text()
    fixed = "        return lambda buf: machine.dht_readinto(p, buf)\n"
    assert fixed in text
    hal.write_text(
        text.replace(
            fixed, "        from esp import dht_readinto\n\n        return lambda buf: dht_readinto(p, buf)\n"
        )
    )
    r = mypy("esp32", tree, tmp_path / "cache")
    assert r.returncode == 1
    assert "hal/esp32.py:" in r.stdout and 'Module "esp" has no attribute "dht_readinto"' in r.stdout, (
        r.stdout
    )


def test_the_check_flags_an_import_of_a_file_the_board_does_not_get(tmp_path: Path) -> None:
    tree = board_files("esp32", tmp_path / "fw")
    hal = tree / "hal" / "esp32.py"
    hal.write_text(
        hal.read_text() + "\n\ndef bus():\n    from hal.fakes import FakeI2C\n\n    return FakeI2C\n"
    )
    r = mypy("esp32", tree, tmp_path / "cache")
    assert r.returncode == 1
    assert "hal/esp32.py:" in r.stdout and 'module named "hal.fakes"' in r.stdout, r.stdout
