"""Dead letters for people: each letter's device, for filtering and counting per device, and a claim
that a replay holds on a letter so that two replays never take the same one.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

# The rule as it stood at this revision (ingest.contract.device_in_topic), copied: a migration must
# do the same thing whatever later code says.
_DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def _device(topic: str) -> str | None:
    parts = topic.split("/", 2)
    if len(parts) < 2 or not parts[0]:
        return None
    return parts[1] if _DEVICE_ID.fullmatch(parts[1]) else None


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("device", sa.Text))
    op.add_column("dead_letters", sa.Column("claim", sa.Text))
    op.add_column("dead_letters", sa.Column("claimed_until_ms", sa.BigInteger))
    op.create_index("ix_dead_letters_device_id", "dead_letters", ["device", "id"])
    letters = sa.table(
        "dead_letters",
        sa.column("id", sa.BigInteger),
        sa.column("topic", sa.Text),
        sa.column("device", sa.Text),
    )
    connection = op.get_bind()
    # At most `dead_letters_kept` rows (100,000 by default): read in one go, written in one executemany.
    found = [
        {"row": row.id, "found": device}
        for row in connection.execute(sa.select(letters.c.id, letters.c.topic))
        if (device := _device(row.topic)) is not None
    ]
    if found:
        connection.execute(
            letters.update().where(letters.c.id == sa.bindparam("row")).values(device=sa.bindparam("found")),
            found,
        )


def downgrade() -> None:
    raise NotImplementedError("sensorfleet does not downgrade its state database")
