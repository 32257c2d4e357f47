"""API tokens and dead letters, and the record of imported files.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("secret_sha256", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("secret_sha256", name="uq_api_tokens_secret_sha256"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("payload_bytes", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_table(
        "imported_files",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("imported_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_imported_files"),
    )


def downgrade() -> None:
    raise NotImplementedError("sensorfleet does not downgrade its state database")
