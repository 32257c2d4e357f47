"""The on-disk spool: batches the store could not take, fsync'd before their messages are acknowledged.

Layout: numbered segment files of records `[u32 length][u32 crc32][orjson points]`, and a `cursor`
file naming the first record not yet replayed (written to a temp file, fsync'd, renamed). A record
torn by a crash was never acknowledged (the ack waits for fsync), so it is cut off when reopening.
A record that was complete but reads back damaged (a failing disk) must not block the ones behind
it: its bytes are set aside under `corrupt/` for a person to look at, and replay resumes at the
next intact record.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import orjson

from ingest.errors import SpoolFullError
from ingest.files import private_dir
from ingest.points import Point

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
SEGMENT_BYTES = 16 * 1024 * 1024


def _encode(points: Sequence[Point]) -> bytes:
    return orjson.dumps([[p.device, p.ts_ms, p.fields] for p in points])


def _decode(data: bytes) -> list[Point]:
    return [Point(device, ts, fields) for device, ts, fields in orjson.loads(data)]


def _record_at(blob: bytes, offset: int) -> bytes | None:
    """The data of an intact record starting at `offset`, or None."""
    if offset + _HEADER.size > len(blob):
        return None
    length, crc = _HEADER.unpack_from(blob, offset)
    start = offset + _HEADER.size
    if length == 0 or start + length > len(blob):
        return None
    data = blob[start : start + length]
    return data if zlib.crc32(data) == crc else None


def _next_intact(blob: bytes, start: int) -> int:
    """Where the first intact record at or after `start` begins, or the end of `blob`."""
    return next((at for at in range(start, len(blob)) if _record_at(blob, at) is not None), len(blob))


def _read_record(path: Path, offset: int) -> bytes | None:
    """The data of an intact record at `offset` of a segment file, or None."""
    with open(path, "rb") as f:
        f.seek(offset)
        header = f.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        length, crc = _HEADER.unpack(header)
        data = f.read(length)
    return data if length and len(data) == length and zlib.crc32(data) == crc else None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES):
        self.dir = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        private_dir(self.dir)
        self._lock = threading.Lock()
        self._cursor_path = self.dir / "cursor"
        self._read_segment, self._read_offset = self._load_cursor()
        self._segments = sorted(int(p.stem) for p in self.dir.glob("*.seg"))
        self._segments = [s for s in self._segments if s >= self._read_segment] or [self._read_segment]
        for stale in self.dir.glob("*.seg"):
            if int(stale.stem) < self._segments[0]:
                stale.unlink()
        self._repair_tail()
        self.corrupt_records = 0
        """Damaged records set aside since this process opened the spool."""
        self.batches = self._count_records()

    # Appending -----------------------------------------------------------------------------------
    def append(self, points: Sequence[Point]) -> None:
        """Durably appends one batch (fsync'd on return) or raises SpoolFullError."""
        data = _encode(points)
        record = _HEADER.pack(len(data), zlib.crc32(data)) + data
        with self._lock:
            if self.depth_bytes() + len(record) > self.max_bytes:
                raise SpoolFullError(
                    f"spool {self.dir} holds {self.depth_bytes()} bytes, limit {self.max_bytes}"
                )
            tail = self._path(self._segments[-1])
            if tail.exists() and tail.stat().st_size + len(record) > self.segment_bytes:
                self._segments.append(self._segments[-1] + 1)
                tail = self._path(self._segments[-1])
            with open(tail, "ab") as f:
                f.write(record)
                f.flush()
                os.fsync(f.fileno())
                created = f.tell() == len(record)
            if created:
                _fsync_dir(self.dir)  # a new segment's directory entry must survive a crash too
            self.batches += 1

    # Replaying -----------------------------------------------------------------------------------
    def peek(self) -> list[Point] | None:
        """The oldest batch not yet replayed, or None when the spool is empty."""
        with self._lock:
            found = self._next_record()
            if found is None:
                self.batches = 0  # whatever was counted was damaged and has been set aside
                return None
            return _decode(found[0])

    def pop(self) -> None:
        """Marks the oldest batch replayed (durably) and drops segments that are done."""
        with self._lock:
            found = self._next_record()
            if found is None:
                return
            _, self._read_segment, self._read_offset = found
            self._save_cursor()
            self.batches -= 1
            while len(self._segments) > 1 and self._segments[0] < self._read_segment:
                self._path(self._segments.pop(0)).unlink(missing_ok=True)

    def depth_bytes(self) -> int:
        total = sum(self._size(s) for s in self._segments if s >= self._read_segment)
        return total - self._read_offset

    # Internals ----------------------------------------------------------------------------------
    def _next_record(self) -> tuple[bytes, int, int] | None:
        """(data, segment, offset after it) of the first unread intact record, moving past finished
        segments and setting damaged records aside."""
        segment, offset = self._read_segment, self._read_offset
        while True:
            path = self._path(segment)
            if path.exists() and offset < path.stat().st_size:
                data = _read_record(path, offset)
                if data is not None:
                    return data, segment, offset + _HEADER.size + len(data)
                offset = self._set_aside(segment, path.read_bytes(), offset)
                self._read_segment, self._read_offset = segment, offset
                continue
            later = [s for s in self._segments if s > segment]
            if not later:
                return None
            segment, offset = later[0], 0
            self._read_segment, self._read_offset = segment, 0

    def _set_aside(self, segment: int, blob: bytes, offset: int) -> int:
        """Copies the damaged bytes from `offset` to the next intact record into `corrupt/`; returns
        where that record starts (or the segment's end)."""
        resume = _next_intact(blob, offset + 1)
        target = self.dir / "corrupt" / f"{segment:012d}-{offset:010d}.bin"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(blob[offset:resume])
        self.corrupt_records += 1
        log.error(
            "spool: %d damaged bytes at %s:%d set aside as %s; replay goes on after them",
            resume - offset,
            self._path(segment),
            offset,
            target,
        )
        self._save_cursor_at(segment, resume)
        self.batches = self._count_records()
        return resume

    def _repair_tail(self) -> None:
        """Cuts off a record torn by a crash at the end of the last segment; a damaged record with
        intact ones after it is not a torn tail, and replay sets it aside instead."""
        path = self._path(self._segments[-1])
        if not path.exists():
            return
        blob = path.read_bytes()
        good = self._read_offset if self._segments[-1] == self._read_segment else 0
        while good < len(blob) and (data := _record_at(blob, good)) is not None:
            good += _HEADER.size + len(data)
        if good < len(blob) and _next_intact(blob, good + 1) == len(blob):
            log.warning("spool: cutting a torn record at %s:%d (%d bytes)", path, good, len(blob) - good)
            with open(path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())

    def _count_records(self) -> int:
        count = 0
        for segment in self._segments:
            path = self._path(segment)
            if not path.exists():
                continue
            offset = self._read_offset if segment == self._read_segment else 0
            size = path.stat().st_size
            with open(path, "rb") as f:
                while offset + _HEADER.size <= size:
                    f.seek(offset)
                    length, _ = _HEADER.unpack(f.read(_HEADER.size))
                    offset += _HEADER.size + length
                    count += 1
        return count

    def _load_cursor(self) -> tuple[int, int]:
        try:
            segment, offset = self._cursor_path.read_text().split()
            return int(segment), int(offset)
        except (OSError, ValueError):
            return 0, 0

    def _save_cursor(self) -> None:
        self._save_cursor_at(self._read_segment, self._read_offset)

    def _save_cursor_at(self, segment: int, offset: int) -> None:
        tmp = self._cursor_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(f"{segment} {offset}")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._cursor_path)
        _fsync_dir(self.dir)

    def _path(self, segment: int) -> Path:
        return self.dir / f"{segment:012d}.seg"

    def _size(self, segment: int) -> int:
        try:
            return self._path(segment).stat().st_size
        except FileNotFoundError:
            return 0
