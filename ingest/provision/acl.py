"""The broker ACL: each device publishes only its own telemetry, status, command results and firmware
chunk requests, and reads only its own commands and firmware chunks.

Mosquitto substitutes `%u` in `pattern` lines with the connecting login, and a device's login is its
id, so a few pattern lines cover every device without listing them. The ingest service gets a `user`
block: it reads what devices publish and writes only command and chunk topics and `<prefix>/$alerts`.
Nothing else is allowed, so a device can neither send itself a command nor read another's firmware.
The same rules as `deploy/mosquitto/sensorfleet.acl`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ingest.contract import DEVICE_PUBLISHES, DEVICE_READS, TOPIC_PREFIX, alerts_topic
from ingest.errors import DeviceError


def render_acl(prefixes: Iterable[str], ingest_username: str) -> str:
    """ACL file text for the given topic prefixes (normally just one)."""
    wanted = sorted(set(prefixes))
    for prefix in wanted:
        if not TOPIC_PREFIX.fullmatch(prefix):
            raise DeviceError(f"topic prefix {prefix!r} not allowed")
    lines = ["# Written by `sensorfleet device add`; edits are overwritten.", "", f"user {ingest_username}"]
    for prefix in wanted:
        lines += [f"topic read {prefix}/+/{suffix}" for suffix in DEVICE_PUBLISHES]
        lines += [f"topic write {prefix}/+/{suffix}" for suffix in DEVICE_READS]
        lines.append(f"topic write {alerts_topic(prefix)}")
    # Pattern lines apply to every login, the ingest's included; no device can take its name.
    lines.append("")
    for prefix in wanted:
        lines += [f"pattern write {prefix}/%u/{suffix}" for suffix in DEVICE_PUBLISHES]
        lines += [f"pattern read {prefix}/%u/{suffix}" for suffix in DEVICE_READS]
    return "\n".join(lines) + "\n"
