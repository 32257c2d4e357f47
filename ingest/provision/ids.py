"""Device ids: the one rule every topic, login and directory name relies on."""

from __future__ import annotations

from ingest.contract import DEVICE_ID
from ingest.errors import DeviceError

INGEST_USERNAME = "sensorfleet-ingest"
"""The ingest service's broker login; a device may never take it, or it would inherit its ACL."""

RESERVED_IDS = frozenset({INGEST_USERNAME})


def validate_device_id(device_id: str) -> str:
    """Returns `device_id` unchanged, or raises DeviceError saying why it is not allowed."""
    if not DEVICE_ID.fullmatch(device_id):
        raise DeviceError(
            f"device id {device_id!r} not allowed: use 1-63 characters of a-z 0-9 _ -, "
            "starting with a letter or digit"
        )
    if device_id in RESERVED_IDS:
        raise DeviceError(f"device id {device_id!r} not allowed: it is reserved for the ingest service")
    return device_id
