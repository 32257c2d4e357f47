"""Static tags of a device (`site=greenhouse-2`): what they may be, checked before anything is stored.

Every tag lands on each InfluxDB point of the device, so a tag must be one the line protocol carries
as is and must not take the name of a column the pipeline writes (`device`, `time`, `seq`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ingest.codec.lineprotocol import escape_key
from ingest.contract import DEVICE_ID, METRIC_NAME, RESERVED_KEYS, RESERVED_METRICS
from ingest.errors import ConfigError, PayloadError

MAX_VALUE_CHARS = 128
RESERVED_TAG_KEYS = RESERVED_METRICS | RESERVED_KEYS


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
    if not value or len(value) > MAX_VALUE_CHARS:
        raise ConfigError(f"tag {key!r}: the value must have 1 to {MAX_VALUE_CHARS} characters")
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
