"""Console sign-in: passwords, sessions and lock-out after repeated failures."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ..store import console as store
from ..store import users as user_store
from ..store.database import Database
from ..timeutil import now
from .passwords import hash_password, verify_password

SESSION_SECONDS = 12 * 3600
FREE_ATTEMPTS = 5  # failures before the account locks
FIRST_LOCK_SECONDS = 30.0  # doubled for every further failure ...
MAX_LOCK_SECONDS = 3600.0  # ... up to this
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # spend the same time on unknown usernames


class SignInFailed(Exception):
    """Wrong username or password (one message for both, so usernames cannot be probed)."""


class LockedOut(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {int(seconds) + 1} s")
        self.seconds = seconds


@dataclass(frozen=True)
class ConsoleUser:
    user_id: str
    username: str
    role: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lock_seconds(failures: int) -> float | None:
    """How long the account locks after ``failures`` consecutive failures (None: not yet)."""
    if failures < FREE_ATTEMPTS:
        return None
    return float(min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** (failures - FREE_ATTEMPTS)))


class ConsoleSessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def sign_in(self, username: str, password: str) -> str:
        """Check the password; return a new session token (for the cookie)."""
        current = now()
        with self.db.read() as conn:
            user = user_store.user_by_name(conn, username)
        if user is None or not user.password_hash:
            verify_password(password, _DUMMY_HASH)
            raise SignInFailed
        if user.locked_until is not None and user.locked_until > current:
            raise LockedOut(user.locked_until - current)
        if user.disabled_at is not None or not verify_password(password, user.password_hash):
            lock = lock_seconds(user.failed_logins + 1)
            with self.db.write() as conn:
                store.record_failure(conn, user.id, locked_until=None if lock is None else current + lock)
            raise SignInFailed
        token = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            store.reset_failures(conn, user.id)
            store.delete_expired_sessions(conn, now=current)
            store.insert_session(
                conn,
                {
                    "token_hash": _digest(token),
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
            row = store.session_with_user(conn, _digest(token), now=now())
        if row is None or row.disabled_at is not None:
            return None
        return ConsoleUser(row.id, row.username, row.role, row.csrf_token)

    def sign_out(self, token: str) -> None:
        with self.db.write() as conn:
            store.delete_session(conn, _digest(token))
