"""What sensorfleet writes is its user's alone (design.md §9): after `device add`, `device simulate`,
`token create` and `serve`, the data dir is 0700 and no file under it can be read by anyone else, even
when the login's umask is the usual 022 and the data dir was made 0755 by an older release."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from support.mosquitto import Mosquitto
from support.procs import free_port
from support.serve import SENSORFLEET, ServeProcess


def run(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        [SENSORFLEET, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr


def loose(data_dir: Path) -> list[str]:
    """Paths under `data_dir` (itself included) that group or others may read, write or enter."""
    found = [] if stat.S_IMODE(data_dir.stat().st_mode) == 0o700 else [f"{data_dir} (the data dir)"]
    for path in data_dir.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            found.append(f"{path.relative_to(data_dir)} {oct(mode)}")
    return found


def test_cli_commands_and_serve_leave_nothing_readable_by_others(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    run("device", "add", "dev-1", "--wifi-password", "wifi-secret", "--data-dir", str(data))
    run("token", "create", "--scope", "read", "--data-dir", str(data))
    run(
        "device", "simulate", "1", "--mqtt-port", str(mosquitto.port), "--interval", "0.2",
        "--duration", "3", "--data-dir", str(data),
    )  # fmt: skip
    assert list(data.rglob("config.json")), sorted(data.rglob("*"))
    assert loose(data) == []

    old = os.umask(0o022)  # the usual umask, which serve inherits
    try:
        serve = ServeProcess(tmp_path / "serve", {"SENSORFLEET_EMBEDDED_BROKER_PORT": str(free_port())})
        serve.start()
        serve.close()
    finally:
        os.umask(old)
    assert {p.name for p in serve.data_dir.iterdir()} >= {"state.sqlite", "telemetry.sqlite", "spool"}
    assert loose(serve.data_dir) == []
