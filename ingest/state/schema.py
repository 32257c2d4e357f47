"""The state database's tables, as SQLAlchemy Core declares them; the migrations create them.

One declaration serves SQLite and PostgreSQL: row ids are 64-bit on PostgreSQL and SQLite's own
rowid there (an INTEGER PRIMARY KEY), so ids grow the same way on both.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)
RowId = BigInteger().with_variant(Integer(), "sqlite")

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("secret_sha256", Text, nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("received_ms", BigInteger, nullable=False),
    Column("topic", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("payload_bytes", Integer, nullable=False),
    Column("device", Text),
    Column("claim", Text),
    Column("claimed_until_ms", BigInteger),
    Index(None, "device", "id"),
)
"""`device` is `ingest.contract.device_in_topic(topic)`; `claim` names the replay that holds the letter
until `claimed_until_ms`."""

provisioned_devices = Table(
    "provisioned_devices",
    metadata,
    Column("id", Text, primary_key=True),
    Column("config", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
"""The inventory: each provisioned board's rendered config (secrets included) and broker password hash."""

broker_logins = Table(
    "broker_logins",
    metadata,
    Column("username", Text, primary_key=True),
    Column("password", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
)
"""Service logins of the broker (the ingest's), with the password the service connects with."""

# The device registry (ingest.registry), a table or two per concern.
devices = Table(
    "devices",
    metadata,
    Column("id", Text, primary_key=True),
    Column("first_seen_ms", BigInteger),
    Column("last_seen_ms", BigInteger),
    Column("online", Boolean),
    Column("status_ms", BigInteger),
    Column("fw", Text),
    Column("rssi", Float),
    Column("boot", BigInteger),
    Column("status", Text, nullable=False, server_default="{}"),
    Column("received", BigInteger, nullable=False, server_default="0"),
    Column("duplicates", BigInteger, nullable=False, server_default="0"),
)
seq_ranges = Table(
    "seq_ranges",
    metadata,
    Column("device", Text, nullable=False),
    Column("boot", BigInteger, nullable=False),
    Column("lo", BigInteger, nullable=False),
    Column("hi", BigInteger, nullable=False),
    PrimaryKeyConstraint("device", "boot", "lo"),
)
device_tags = Table(
    "device_tags",
    metadata,
    Column("device", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("device", "key"),
)
tags_version = Table(
    "tags_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)
"""One row, moved by every change of the tags: a process re-reads the tags when it has moved."""
status_changes = Table(
    "status_changes",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("device", Text, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("online", Boolean, nullable=False),
    Column("fw", Text),
    Column("boot", BigInteger),
    Column("changed", Text, nullable=False),
    Column("retained", Boolean, nullable=False),
    Index(None, "device", "id"),
)
command_results = Table(
    "command_results",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("device", Text, nullable=False),
    Column("command_id", Text, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("device", "command_id"),
)
device_metrics = Table(
    "device_metrics",
    metadata,
    Column("device", Text, nullable=False),
    Column("metric", Text, nullable=False),
    PrimaryKeyConstraint("device", "metric"),
)
upgrades = Table(
    "upgrades",
    metadata,
    Column("name", Text, primary_key=True),
    Column("done_ms", BigInteger, nullable=False),
)

imported_files = Table(
    "imported_files",
    metadata,
    Column("name", Text, primary_key=True),
    Column("imported_ms", BigInteger, nullable=False),
)
"""The files of a data dir from before the state store whose rows were taken in, each once."""

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("name", Text, primary_key=True),
    Column("body", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
"""Each rule as its JSON (ingest.alerts.rules.Rule)."""
alert_rules_version = Table(
    "alert_rules_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)
"""One row, moved by every change of the rules: a process reloads them when it has moved."""
alerts = Table(
    "alerts",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("rule", Text, nullable=False),
    Column("device", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("fired_ms", BigInteger),
    Column("resolved_ms", BigInteger),
    Column("value", Text, nullable=False),
    Column("active", Text),
    UniqueConstraint("active"),
    Index(None, "device", "id"),
)
"""Every alert, pending → firing → resolved. `active` is `rule/device` while the alert is pending or
firing and NULL after: the unique constraint lets one process, not two, start an alert."""
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_ms", BigInteger, nullable=False),
    Column("lease_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger),
    Column("failed_ms", BigInteger),
    Column("last_error", Text),
    UniqueConstraint("alert_id", "status", "target"),
    Index(None, "delivered_ms", "next_ms"),
)
"""The outbox: one row per transition and target, written with the transition itself, so a
notification is neither lost nor made twice, whichever process delivers it."""

firmware_bundles = Table(
    "firmware_bundles",
    metadata,
    Column("version", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("manifest", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
"""Each firmware bundle (ingest.ota.bundle): its manifest as boards receive it."""
firmware_files = Table(
    "firmware_files",
    metadata,
    Column("version", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("version", "path"),
)
"""A bundle's files, so that every ingest process can answer a board's chunk requests."""
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("version", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("canary", Integer, nullable=False),
    Column("wave", Text, nullable=False),
    Column("health_s", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("reason", Text),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
"""A rollout of a version to devices (`target` says how they were chosen), `running`, `halted` or
`done`; `reason` says why it halted."""
rollout_devices = Table(
    "rollout_devices",
    metadata,
    Column("rollout_id", BigInteger, nullable=False),
    Column("device", Text, nullable=False),
    Column("wave", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("offers", Integer, nullable=False),
    Column("offered_ms", BigInteger),
    Column("started_ms", BigInteger),
    Column("trial_ms", BigInteger),
    Column("done_ms", BigInteger),
    Column("reason", Text),
    PrimaryKeyConstraint("rollout_id", "device"),
)
"""Each device of a rollout: its wave (0 is the canary) and how far it got."""
