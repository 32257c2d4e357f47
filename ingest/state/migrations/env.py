"""Alembic's environment: migrations run on the connection `ingest.state.migrate` passes in."""

from __future__ import annotations

from alembic import context

from ingest.state.schema import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
