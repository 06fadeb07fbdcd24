from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sference_server.store.database import Database
from sference_server.store.migrate import is_current, upgrade
from sference_server.store.tables import metadata


def test_migrations_build_exactly_the_declared_schema(db: Database) -> None:
    with db.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrade_is_idempotent(db: Database) -> None:
    assert is_current(db)
    upgrade(db)
    assert is_current(db)
