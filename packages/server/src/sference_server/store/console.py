"""Console sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from .database import Tx
from .records import SessionUser
from .tables import console_sessions, users


def insert_session(conn: Tx, row: dict[str, Any]) -> None:
    conn.execute(insert(console_sessions), [row])


def session_with_user(conn: Tx, token_hash: str, *, now: float) -> SessionUser | None:
    row = conn.execute(
        select(console_sessions.c.csrf_token, users.c.id, users.c.username, users.c.role, users.c.disabled_at)
        .join(users, users.c.id == console_sessions.c.user_id)
        .where(console_sessions.c.token_hash == token_hash, console_sessions.c.expires_at > now)
    ).first()
    return SessionUser.from_row(row) if row is not None else None


def delete_session(conn: Tx, token_hash: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))


def delete_sessions_of(conn: Tx, user_id: str, *, keep: str | None = None) -> None:
    """All the user's sessions but the one whose token hash is ``keep``."""
    query = delete(console_sessions).where(console_sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(console_sessions.c.token_hash != keep)
    conn.execute(query)


def delete_expired_sessions(conn: Tx, *, now: float) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
