"""The device registry: presence, completeness, tags, status history, command results, metric names.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger),
        sa.Column("last_seen_ms", sa.BigInteger),
        sa.Column("online", sa.Boolean),
        sa.Column("status_ms", sa.BigInteger),
        sa.Column("fw", sa.Text),
        sa.Column("rssi", sa.Float),
        sa.Column("boot", sa.BigInteger),
        sa.Column("status", sa.Text, nullable=False, server_default="{}"),
        sa.Column("received", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
    )
    op.create_table(
        "seq_ranges",
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("boot", sa.BigInteger, nullable=False),
        sa.Column("lo", sa.BigInteger, nullable=False),
        sa.Column("hi", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("device", "boot", "lo", name="pk_seq_ranges"),
    )
    op.create_table(
        "device_tags",
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("device", "key", name="pk_device_tags"),
    )
    op.create_table(
        "tags_version",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tags_version"),
    )
    op.create_table(
        "status_changes",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("fw", sa.Text),
        sa.Column("boot", sa.BigInteger),
        sa.Column("changed", sa.Text, nullable=False),
        sa.Column("retained", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_changes"),
    )
    op.create_index("ix_status_changes_device_id", "status_changes", ["device", "id"])
    op.create_table(
        "command_results",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_command_results"),
        sa.UniqueConstraint("device", "command_id", name="uq_command_results_device_command_id"),
    )
    op.create_table(
        "device_metrics",
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("device", "metric", name="pk_device_metrics"),
    )
    op.create_table(
        "upgrades",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("done_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_upgrades"),
    )


def downgrade() -> None:
    raise NotImplementedError("sensorfleet does not downgrade its state database")
