"""Alembic environment. ``store/migrate.py`` passes an open connection in
``config.attributes["connection"]``; the ``alembic`` command line is not needed."""

from __future__ import annotations

from alembic import context

from sference_server.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `sference-server migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
