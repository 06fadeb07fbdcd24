"""Fixtures every test folder shares: stores (SQLite file and PostgreSQL), users and keys."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sference_server.security.accounts import Accounts
from sference_server.store.database import Database
from sference_server.store.migrate import upgrade
from support.postgres import PostgresUnavailable, cluster, create_database, drop_database
from support.store import STORES, migrated_store


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    manager = cluster()
    try:
        url = manager.__enter__()
    except PostgresUnavailable as exc:
        if os.environ.get("SFERENCE_TEST_REQUIRE_POSTGRES"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield url
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """A migrated database that each test's database is copied from."""
    url = create_database(pg_admin_url)
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url.rpartition("/")[2]
    drop_database(pg_admin_url, url)


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store: a SQLite file, or a fresh PostgreSQL database."""
    yield from migrated_store(request, tmp_path)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def make_user(db: Database) -> Callable[..., tuple[str, str]]:
    """``make_user(name, role="user", scopes="read write", api_version=None) -> (user_id, api_key)``
    (``api_version``: the key's, default the service's default)."""
    accounts = Accounts(db)

    def make(
        name: str, role: str = "user", scopes: str = "read write", api_version: str | None = None
    ) -> tuple[str, str]:
        user_id = accounts.create_user(name, role=role)
        return user_id, accounts.create_key(user_id, scopes=scopes, api_version=api_version).plaintext

    return make
