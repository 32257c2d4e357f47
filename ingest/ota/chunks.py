"""The chunk protocol (docs/protocol.md): a board's request on `ota/req` and the ingest's answer on
`ota/data`. Pure: what a request asks for is looked up through the functions passed in.

Request: JSON `{"v": version, "file": path or "@manifest", "off": offset, "id": 0..65535, "n": 1..1024}`.
Answer: an 11-byte header `>BBHII` (protocol 1, status, the request's id, offset, the file's size), then
up to `n` bytes of the file from `off`; no bytes after a status other than OK.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeGuard

import orjson

from ingest.contract import FW_VERSION, MAX_OTA_CHUNK, OTA_MANIFEST
from ingest.ota.bundle import Bundle

HEADER = struct.Struct(">BBHII")
PROTOCOL = 1
MAX_REQUEST_BYTES = 256


class ChunkStatus(IntEnum):
    OK = 0
    UNKNOWN_VERSION = 1
    """Not a bundle, or not one offered to this device."""
    UNKNOWN_FILE = 2
    PAST_END = 3
    BAD_REQUEST = 4


@dataclass(frozen=True)
class Answer:
    payload: bytes
    refused: str | None = None
    """Why the request got no bytes (for the counters), None when it did."""


Offered = Callable[[str], Bundle | None]
"""version → the bundle, if the asking device may have it."""
ReadFile = Callable[[Bundle, str], bytes]
"""(bundle, one of its paths) → the file's bytes."""


def answer(payload: bytes, offered: Offered, read_file: ReadFile) -> Answer:
    request = _parse(payload)
    if isinstance(request, Answer):
        return request
    version, path, offset, req_id, length = request
    bundle = offered(version)
    if bundle is None:
        return _refuse(ChunkStatus.UNKNOWN_VERSION, req_id, "version not offered to this device")
    if path == OTA_MANIFEST:
        data = bundle.file_list
    elif any(f.path == path for f in bundle.files):
        data = read_file(bundle, path)
    else:
        return _refuse(ChunkStatus.UNKNOWN_FILE, req_id, "no such file in the bundle")
    if offset > len(data):
        return _refuse(ChunkStatus.PAST_END, req_id, "offset past the end of the file")
    chunk = data[offset : offset + length]
    return Answer(HEADER.pack(PROTOCOL, ChunkStatus.OK, req_id, offset, len(data)) + chunk)


def _parse(payload: bytes) -> tuple[str, str, int, int, int] | Answer:
    if len(payload) > MAX_REQUEST_BYTES:
        return _refuse(ChunkStatus.BAD_REQUEST, 0, "request too large")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return _refuse(ChunkStatus.BAD_REQUEST, 0, "request is not JSON")
    if not isinstance(doc, dict):
        return _refuse(ChunkStatus.BAD_REQUEST, 0, "request is not an object")
    req_id = doc.get("id")
    if not _int_in(req_id, 0, 0xFFFF):
        return _refuse(ChunkStatus.BAD_REQUEST, 0, "request id is not 0..65535")
    version, path, offset, length = doc.get("v"), doc.get("file"), doc.get("off"), doc.get("n", MAX_OTA_CHUNK)
    if not (isinstance(version, str) and FW_VERSION.fullmatch(version)):
        return _refuse(ChunkStatus.BAD_REQUEST, req_id, "version is not a firmware version")
    if not isinstance(path, str) or len(path) > 200:
        return _refuse(ChunkStatus.BAD_REQUEST, req_id, "file is not a path")
    if not _int_in(offset, 0, 0xFFFFFFFF) or not _int_in(length, 1, MAX_OTA_CHUNK):
        return _refuse(ChunkStatus.BAD_REQUEST, req_id, "offset or length out of range")
    return version, path, offset, req_id, length


def _int_in(value: Any, low: int, high: int) -> TypeGuard[int]:
    return type(value) is int and low <= value <= high


def _refuse(status: ChunkStatus, req_id: int, why: str) -> Answer:
    return Answer(HEADER.pack(PROTOCOL, status, req_id, 0, 0), why)
