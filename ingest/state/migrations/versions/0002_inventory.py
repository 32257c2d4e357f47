"""The inventory of provisioned boards and the broker's service logins.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "provisioned_devices",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provisioned_devices"),
    )
    op.create_table(
        "broker_logins",
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("password", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_broker_logins"),
    )


def downgrade() -> None:
    raise NotImplementedError("sensorfleet does not downgrade its state database")
