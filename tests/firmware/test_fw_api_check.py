"""The firmware's use of MicroPython's modules, checked by mypy against the published stubs of each
port it runs on (micropython-esp32-stubs and micropython-unix-stubs 1.29, installed by `make` under
.venv/stubs/), with a small overlay (typecheck/overlay/) where a stub is known to be wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.boards import FIRMWARE

HERE = Path(__file__).parent / "typecheck"
STUBS = Path(sys.prefix) / "stubs"
COMMON = ["main.py", "safeboot.py", "sensorfleet", "drivers"]
PORTS = {
    "esp32": ("esp32", ["hal/esp32.py"]),
    "unix": ("linux", ["hal/unix.py", "hal/fakes.py"]),
}


def mypy(port: str, root: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    stubs = STUBS / port
    if not (stubs / "machine.pyi").is_file():
        pytest.fail(f"no MicroPython {port} stubs in {stubs}: run `make test` (or `make .venv/stubs/...`)")
    platform, hal = PORTS[port]
    env = {**os.environ, "MYPYPATH": f"{HERE / 'overlay'}{os.pathsep}{stubs}"}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(HERE / "mypy.ini"), "--custom-typeshed-dir",
         str(stubs), "--platform", platform, "--cache-dir", str(cache), *COMMON, *hal],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("port", sorted(PORTS))
def test_firmware_uses_only_what_the_port_has(port: str, tmp_path: Path) -> None:
    r = mypy(port, FIRMWARE, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_check_flags_an_api_the_esp32_port_no_longer_has(tmp_path: Path) -> None:
    # esp.dht_readinto moved to machine in MicroPython 1.20.
    tree = tmp_path / "fw"
    subprocess.run(["cp", "-r", str(FIRMWARE), str(tree)], check=True)
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
