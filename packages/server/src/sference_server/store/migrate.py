"""Bring a store's schema to the newest revision (Alembic, run in-process)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .database import Database

_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x5F3E_0002


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def upgrade(db: Database) -> None:
    """Idempotent; safe when several processes start at once (PostgreSQL: an advisory lock)."""
    config = alembic_config()
    with db.write() as conn:
        if db.is_postgres:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def is_current(db: Database) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
