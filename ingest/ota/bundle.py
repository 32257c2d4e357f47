"""A firmware bundle: a version, the app's files and their manifest (design.md §10, docs/protocol.md).

The manifest lists each file's path, size and SHA-256 in path order, and the bundle's own SHA-256: that
of the file list, the lines `"<path> <size> <sha256>\\n"` of its files in path order. A board pulls the
file list (never the JSON manifest, which it would have to parse whole), reads it one line at a time,
and refuses an update whose list does not hash to the bundle hash its `ota` command named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from ingest.contract import BOOT_STUB, FW_VERSION, MAX_OTA_PATH_CHARS, MAX_OTA_VERSION_CHARS, OTA_PATH
from ingest.errors import FirmwareError

MAX_BUNDLE_BYTES = 1536 * 1024
"""All files together: what a board's filesystem holds beside the running app and its outbox."""
MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 200
STUB_FILES = frozenset({*BOOT_STUB, "config.json"})
"""The boot stub and the board's own config: on the board, never in a bundle."""


@dataclass(frozen=True)
class BundleFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Bundle:
    version: str
    files: tuple[BundleFile, ...]
    sha256: str
    manifest: bytes
    """The manifest as boards receive it, byte for byte."""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def file_list(self) -> bytes:
        """What a board pulls as `@manifest`; its SHA-256 is the bundle's."""
        return file_list(self.files)


def file_list(files: tuple[BundleFile, ...]) -> bytes:
    lines = "".join(f"{f.path} {f.size} {f.sha256}\n" for f in sorted(files, key=lambda f: f.path))
    return lines.encode("ascii")


def bundle_hash(files: tuple[BundleFile, ...]) -> str:
    return hashlib.sha256(file_list(files)).hexdigest()


def check_version(version: str) -> str:
    if len(version) > MAX_OTA_VERSION_CHARS or not FW_VERSION.fullmatch(version):
        why = f"{MAX_OTA_VERSION_CHARS} letters, digits, ._+~- at most"
        raise FirmwareError(f"version {version[:80]!r} is not a firmware version ({why})")
    return version


def check_path(path: str) -> str:
    if len(path) > MAX_OTA_PATH_CHARS or not OTA_PATH.fullmatch(path) or ".." in path.split("/"):
        raise FirmwareError(f"file path {path[:120]!r} is not allowed in a bundle")
    if path in STUB_FILES:
        raise FirmwareError(f"{path} belongs to the board, never to a bundle")
    return path


def build_bundle(version: str, contents: Mapping[str, bytes]) -> Bundle:
    """The bundle of `contents` (path → bytes), every limit checked; FirmwareError otherwise."""
    check_version(version)
    if not contents:
        raise FirmwareError("a bundle needs at least one file")
    if len(contents) > MAX_FILES:
        raise FirmwareError(f"a bundle holds at most {MAX_FILES} files, not {len(contents)}")
    files = []
    for path in sorted(contents):
        data = contents[check_path(path)]
        if len(data) > MAX_FILE_BYTES:
            raise FirmwareError(f"{path} has {len(data)} bytes: a file holds at most {MAX_FILE_BYTES}")
        files.append(BundleFile(path, len(data), hashlib.sha256(data).hexdigest()))
    total = sum(f.size for f in files)
    if total > MAX_BUNDLE_BYTES:
        raise FirmwareError(f"the bundle has {total} bytes: at most {MAX_BUNDLE_BYTES}")
    digest = bundle_hash(tuple(files))
    manifest = orjson.dumps(
        {
            "v": version,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files],
            "sha256": digest,
        }
    )
    return Bundle(version, tuple(files), digest, manifest)


def check_manifest(bundle: Bundle, manifest: object) -> None:
    """Raises unless `manifest` (sent with an uploaded bundle, as parsed from its JSON) says what the
    bundle's files are."""
    if manifest != orjson.loads(bundle.manifest):
        raise FirmwareError("the manifest does not match the bundle's files (sizes, hashes or names differ)")
