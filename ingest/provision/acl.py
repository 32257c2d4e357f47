"""The broker ACL: each device publishes only under `<prefix>/<its login>/` and reads only its commands.

Mosquitto substitutes `%u` in `pattern` lines with the connecting login, and a device's login is its
id, so two pattern lines cover every device without listing them. The ingest service gets a `user`
block: it reads everything under the prefix and writes only command topics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ingest.errors import DeviceError
from ingest.settings import TOPIC_PREFIX_PATTERN

_PREFIX = re.compile(TOPIC_PREFIX_PATTERN)


def render_acl(prefixes: Iterable[str], ingest_username: str) -> str:
    """ACL file text for the given topic prefixes (normally just one)."""
    wanted = sorted(set(prefixes))
    for prefix in wanted:
        if not _PREFIX.fullmatch(prefix):
            raise DeviceError(f"topic prefix {prefix!r} not allowed")
    lines = ["# Written by `sensorfleet device add`; edits are overwritten.", "", f"user {ingest_username}"]
    for prefix in wanted:
        lines += [f"topic read {prefix}/#", f"topic write {prefix}/+/cmd"]
    # Pattern lines apply to every login, the ingest's included; its own cmd topic is harmless.
    lines.append("")
    for prefix in wanted:
        lines += [f"pattern write {prefix}/%u/#", f"pattern read {prefix}/%u/cmd"]
    return "\n".join(lines) + "\n"
