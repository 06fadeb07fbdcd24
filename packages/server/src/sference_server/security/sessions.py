"""Console sign-in: passwords (checked off the event loop), throttling, sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import anyio

from ..store import console as store
from ..store import users as user_store
from ..store.database import Database
from ..store.records import User
from ..timeutil import now
from .passwords import hash_password, verify_off_loop
from .throttle import SignInThrottle

SESSION_SECONDS = 12 * 3600
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # spend the same time on unknown usernames


class SignInFailed(Exception):
    """Wrong username or password, or a throttled attempt: one answer for all, so neither
    usernames nor throttling can be probed."""


@dataclass(frozen=True)
class ConsoleUser:
    user_id: str
    username: str
    role: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def session_digest(token: str) -> str:
    """How a session token is stored (the cookie holds the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, db: Database, throttle: SignInThrottle) -> None:
        self.db = db
        self.throttle = throttle

    async def sign_in(self, username: str, password: str, *, address: str) -> str:
        """Check the password of a sign-in from client ``address``; return a new session token
        (for the cookie). Every attempt verifies one password hash, whatever the outcome."""
        user, refused = await anyio.to_thread.run_sync(self._before_check, username, address)
        stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
        matches = await verify_off_loop(password, stored)
        if refused or user is None or not user.password_hash or user.disabled_at is not None or not matches:
            await anyio.to_thread.run_sync(self.throttle.failed, address, username)
            raise SignInFailed
        return await anyio.to_thread.run_sync(self._open_session, user)

    def _before_check(self, username: str, address: str) -> tuple[User | None, bool]:
        with self.db.read() as conn:
            user = user_store.user_by_name(conn, username)
        return user, self.throttle.refuses(address, username)

    def _open_session(self, user: User) -> str:
        self.throttle.succeeded(user.username)
        token, current = secrets.token_urlsafe(32), now()
        with self.db.write() as conn:
            store.delete_expired_sessions(conn, now=current)
            store.insert_session(
                conn,
                {
                    "token_hash": session_digest(token),
                    "user_id": user.id,
                    "csrf_token": secrets.token_urlsafe(32),
                    "created_at": current,
                    "expires_at": current + SESSION_SECONDS,
                },
            )
        return token

    def resolve(self, token: str | None) -> ConsoleUser | None:
        if not token:
            return None
        with self.db.read() as conn:
            row = store.session_with_user(conn, session_digest(token), now=now())
        if row is None or row.disabled_at is not None:
            return None
        return ConsoleUser(row.id, row.username, row.role, row.csrf_token)

    def sign_out(self, token: str) -> None:
        with self.db.write() as conn:
            store.delete_session(conn, session_digest(token))
