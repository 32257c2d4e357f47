"""Static tags of a device (`site=greenhouse-2`): what they may be, checked before anything is stored,
and table `device_tags` with the copy in memory the write path reads.

Every tag lands on each InfluxDB point of the device, so a tag must be one the line protocol carries
as is and must not take the name of a column the pipeline writes (`device`, `time`, `seq`, ...).

Tags are set by `sensorfleet device tag` in another process while the service runs: the service keeps
them in memory and re-reads them when `tags_version` has moved, checked at most every `check_s` on the
write path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import Connection, delete, insert, select

from ingest.codec.lineprotocol import escape_key
from ingest.contract import DEVICE_ID, MAX_TAG_VALUE_CHARS, METRIC_NAME, RESERVED_TAG_KEYS
from ingest.errors import ConfigError, PayloadError
from ingest.state.database import upsert
from ingest.state.schema import device_tags, tags_version

TAGS_CHECK_S = 2.0
_NO_TAGS: Mapping[str, str] = {}


def check_device_id(device: str) -> None:
    if not DEVICE_ID.fullmatch(device):
        raise ConfigError(f"invalid device id {device[:80]!r}")


def check_tag_key(key: str) -> None:
    if not METRIC_NAME.fullmatch(key):
        raise ConfigError(
            f"invalid tag key {key[:80]!r}: letters, digits, _ and . starting with a letter, at most 64"
        )
    if key in RESERVED_TAG_KEYS:
        raise ConfigError(f"tag key {key!r} is reserved ({', '.join(sorted(RESERVED_TAG_KEYS))})")


def check_tag_value(key: str, value: str) -> None:
    if not value or len(value) > MAX_TAG_VALUE_CHARS:
        raise ConfigError(f"tag {key!r}: the value must have 1 to {MAX_TAG_VALUE_CHARS} characters")
    if not value.isprintable() or value != value.strip():
        raise ConfigError(
            f"tag {key!r}: the value {value[:80]!r} must be printable, without surrounding spaces"
        )
    try:
        escape_key(value, "tag value")
    except PayloadError as e:  # a backslash InfluxDB would read as an escape
        raise ConfigError(f"tag {key!r}: {e}") from None


def check_tags(tags: Mapping[str, str], remove: Iterable[str] = ()) -> None:
    for key, value in tags.items():
        check_tag_key(key)
        check_tag_value(key, value)
    for key in remove:
        check_tag_key(key)


def parse_assignment(text: str) -> tuple[str, str]:
    """`key=value` as typed on a command line, checked."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ConfigError(f"expected key=value, got {text[:80]!r}")
    check_tag_key(key)
    check_tag_value(key, value)
    return key, value


class Tags:
    """Each device's tags as of at most `check_s` ago. The caller holds the registry's lock for
    everything but `due` and `of`, opens the transaction `write` runs in and calls `keep` once it is
    committed."""

    def __init__(
        self, db: Connection, check_s: float = TAGS_CHECK_S, clock: Callable[[], float] = time.monotonic
    ):
        self._check_s, self._clock = check_s, clock
        self._tags: Mapping[str, Mapping[str, str]] = {}
        self._version = -1
        self._checked_at = clock()
        self.reload_if_changed(db)

    def due(self) -> bool:
        return self._clock() - self._checked_at >= self._check_s

    def checked(self) -> None:
        self._checked_at = self._clock()

    def of(self, device: str) -> Mapping[str, str]:
        return self._tags.get(device, _NO_TAGS)

    def reload_if_changed(self, db: Connection) -> None:
        """Re-reads the tags when any process (the CLI, another ingest) has changed them since the
        last look: one small read of `tags_version`, and the tags only when it moved."""
        version = _version(db)
        if version == self._version:
            return
        tags: dict[str, dict[str, str]] = {}
        for device, key, value in db.execute(
            select(device_tags.c.device, device_tags.c.key, device_tags.c.value)
        ):
            tags.setdefault(device, {})[key] = value
        self._tags, self._version = tags, version

    @staticmethod
    def write(
        db: Connection, device: str, tags: Mapping[str, str], remove: Iterable[str], replace: bool
    ) -> tuple[dict[str, str], int]:
        """Sets `tags` (the others kept, or dropped when `replace`) and removes `remove`; returns the
        device's tags now and the tags' version this write made. The caller has checked them with
        `check_device_id` and `check_tags`."""
        c = device_tags.c
        gone = [*remove, *tags] if not replace else None
        if gone is None:
            db.execute(delete(device_tags).where(c.device == device))
        elif gone:
            db.execute(delete(device_tags).where(c.device == device, c.key.in_(gone)))
        if tags:
            db.execute(
                insert(device_tags), [{"device": device, "key": k, "value": v} for k, v in tags.items()]
            )
        version = upsert(db, tags_version).values(id=1, version=1)
        db.execute(
            version.on_conflict_do_update(
                index_elements=[tags_version.c.id], set_={"version": tags_version.c.version + 1}
            )
        )
        rows = db.execute(select(c.key, c.value).where(c.device == device).order_by(c.key))
        return {key: value for key, value in rows}, _version(db)

    def keep(self, device: str, tags: dict[str, str], version: int) -> Mapping[str, str]:
        """After `write` committed; returns the device's tags now. When no other process changed tags
        since the last look, this process's copy is current: its own write costs no re-read."""
        if version == self._version + 1:
            self._version = version
        # A new dict, not an update in place: the write path reads it without the lock.
        updated = {d: t for d, t in self._tags.items() if d != device}
        if tags:
            updated[device] = tags
        self._tags = updated
        return updated.get(device, _NO_TAGS)


def _version(db: Connection) -> int:
    return db.scalar(select(tags_version.c.version).where(tags_version.c.id == 1)) or 0
