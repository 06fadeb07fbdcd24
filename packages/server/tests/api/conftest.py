from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from sference_server.security.passwords import hash_password
from sference_server.services import ApiServices
from sference_server.store.database import Database
from sference_server.store.tables import users
from support.live import ThreadServer
from support.settings import echo_settings

PASSWORD = "correct horse battery"  # the console password of ``Api.person`` users


class Api:
    """A live server (echo engine, real store, real HTTP) and a way to call it as some user."""

    def __init__(self, server: ThreadServer, make_user: Callable[..., tuple[str, str]]) -> None:
        self.server = server
        self.url = server.url
        self.services = server.services
        self._make_user = make_user

    def client(self, key: str | None = None, *, header: str = "bearer") -> httpx.Client:
        headers = {}
        if key is not None:
            headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def user(self, name: str, **kwargs: Any) -> httpx.Client:
        _, key = self._make_user(name, **kwargs)
        return self.client(key)

    def person(self, name: str, role: str = "user") -> tuple[str, str]:
        """A user who can also sign in to the console, with ``PASSWORD``: (user id, API key)."""
        user_id, key = self._make_user(name, role=role)
        with self.services.db.write() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=hash_password(PASSWORD)))
        return user_id, key


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def api(
    tmp_path: Path,
    database_url: str,
    db: Database,
    make_user: Callable[..., tuple[str, str]],
    server_overrides: dict[str, Any],
) -> Iterator[Api]:
    services = ApiServices.build(echo_settings(tmp_path, database_url, **server_overrides), db)
    with ThreadServer(services) as server:
        yield Api(server, make_user)
