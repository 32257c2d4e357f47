"""Alerts: rules, alerts pending → firing → resolved, and their notifications' outbox.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_alert_rules"),
    )
    op.create_table(
        "alert_rules_version",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules_version"),
    )
    op.bulk_insert(
        sa.table("alert_rules_version", sa.column("id"), sa.column("version")), [{"id": 1, "version": 0}]
    )
    op.create_table(
        "alerts",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("fired_ms", sa.BigInteger),
        sa.Column("resolved_ms", sa.BigInteger),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("active", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("active", name="uq_alerts_active"),
    )
    op.create_index("ix_alerts_device_id", "alerts", ["device", "id"])
    op.create_table(
        "alert_notifications",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_ms", sa.BigInteger, nullable=False),
        sa.Column("lease_ms", sa.BigInteger, nullable=False),
        sa.Column("delivered_ms", sa.BigInteger),
        sa.Column("failed_ms", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_alert_notifications"),
        sa.UniqueConstraint(
            "alert_id", "status", "target", name="uq_alert_notifications_alert_id_status_target"
        ),
    )
    op.create_index(
        "ix_alert_notifications_delivered_ms_next_ms", "alert_notifications", ["delivered_ms", "next_ms"]
    )


def downgrade() -> None:
    raise NotImplementedError("sensorfleet does not downgrade its state database")
