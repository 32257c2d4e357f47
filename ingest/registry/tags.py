"""Static tags of a device (`site=greenhouse-2`): what they may be, checked before anything is stored,
and table `device_tags` with the copy in memory the write path reads.

Every tag lands on each InfluxDB point of the device, so a tag must be one the line protocol carries
as is and must not take the name of a column the pipeline writes (`device`, `time`, `seq`, ...).

Tags are set by `sensorfleet device tag` in another process while the service runs: the service keeps
them in memory and re-reads them when the database says another connection committed, checked at most
every `check_s` on the write path.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping

from ingest.codec.lineprotocol import escape_key
from ingest.contract import DEVICE_ID, MAX_TAG_VALUE_CHARS, METRIC_NAME, RESERVED_TAG_KEYS
from ingest.database import data_version
from ingest.errors import ConfigError, PayloadError

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

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS device_tags (
        device TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (device, key)
    );
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        check_s: float = TAGS_CHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._db, self._check_s, self._clock = db, check_s, clock
        self._tags: Mapping[str, Mapping[str, str]] = {}
        self._data_version = -1
        self._checked_at = clock()
        self.reload_if_changed()

    def due(self) -> bool:
        return self._clock() - self._checked_at >= self._check_s

    def check(self) -> None:
        self._checked_at = self._clock()
        self.reload_if_changed()

    def of(self, device: str) -> Mapping[str, str]:
        return self._tags.get(device, _NO_TAGS)

    def reload_if_changed(self) -> None:
        """Re-reads the tags when another connection (the CLI) has committed since the last look.

        The service's own writes of counts and status do not cost a re-read; any other commit costs one
        small one."""
        version = data_version(self._db)
        if version == self._data_version:
            return
        tags: dict[str, dict[str, str]] = {}
        for device, key, value in self._db.execute("SELECT device, key, value FROM device_tags"):
            tags.setdefault(device, {})[key] = value
        self._tags, self._data_version = tags, version

    def write(
        self, device: str, tags: Mapping[str, str], remove: Iterable[str], replace: bool
    ) -> dict[str, str]:
        """Sets `tags` (the others kept, or dropped when `replace`) and removes `remove`; returns the
        device's tags now. The caller has checked them with `check_device_id` and `check_tags`."""
        if replace:
            self._db.execute("DELETE FROM device_tags WHERE device = ?", (device,))
        self._db.executemany(
            "DELETE FROM device_tags WHERE device = ? AND key = ?", [(device, k) for k in remove]
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO device_tags VALUES (?, ?, ?)", [(device, k, v) for k, v in tags.items()]
        )
        rows = self._db.execute(
            "SELECT key, value FROM device_tags WHERE device = ? ORDER BY key", (device,)
        ).fetchall()
        return dict(rows)

    def keep(self, device: str, tags: dict[str, str]) -> Mapping[str, str]:
        """After `write` committed; returns the device's tags now."""
        # A new dict, not an update in place: the write path reads it without the lock.
        updated = {d: t for d, t in self._tags.items() if d != device}
        if tags:
            updated[device] = tags
        self._tags = updated
        return updated.get(device, _NO_TAGS)
