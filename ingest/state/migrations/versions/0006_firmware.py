"""Firmware bundles and their files, rollouts and their devices.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "firmware_bundles",
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_firmware_bundles"),
    )
    op.create_table(
        "firmware_files",
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("version", "path", name="pk_firmware_files"),
    )
    op.create_table(
        "rollouts",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("canary", sa.Integer, nullable=False),
        sa.Column("wave", sa.Text, nullable=False),
        sa.Column("health_s", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
    )
    op.create_table(
        "rollout_devices",
        sa.Column("rollout_id", sa.BigInteger, nullable=False),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("offers", sa.Integer, nullable=False),
        sa.Column("offered_ms", sa.BigInteger),
        sa.Column("started_ms", sa.BigInteger),
        sa.Column("trial_ms", sa.BigInteger),
        sa.Column("done_ms", sa.BigInteger),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("rollout_id", "device", name="pk_rollout_devices"),
    )


def downgrade() -> None:
    raise NotImplementedError("sensorfleet does not downgrade its state database")
