"""Users and API keys."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Row, func, insert, select, update

from .tables import api_keys, users


def count_users(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def insert_user(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(users), [row])


def user_by_name(conn: Connection, username: str) -> Row[Any] | None:
    return conn.execute(select(users).where(users.c.username == username)).first()


def list_users(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(users).order_by(users.c.created_at)))


def insert_key(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(api_keys), [row])


def key_with_user(conn: Connection, key_hash: str) -> Row[Any] | None:
    """The key with this hash, joined with its owner."""
    return cast(
        "Row[Any] | None",
        conn.execute(
            select(
                api_keys.c.id.label("key_id"),
                api_keys.c.name.label("key_name"),
                api_keys.c.prefix,
                api_keys.c.scopes,
                api_keys.c.expires_at,
                api_keys.c.revoked_at,
                api_keys.c.last_used_at,
                users.c.id.label("user_id"),
                users.c.username,
                users.c.role,
                users.c.disabled_at,
            )
            .join(users, users.c.id == api_keys.c.user_id)
            .where(api_keys.c.key_hash == key_hash)
        ).first(),
    )


def list_keys(conn: Connection, *, user_id: str | None = None) -> list[Row[Any]]:
    query = select(api_keys, users.c.username).join(users, users.c.id == api_keys.c.user_id)
    if user_id is not None:
        query = query.where(api_keys.c.user_id == user_id)
    return list(conn.execute(query.order_by(api_keys.c.created_at)))


def revoke_key(conn: Connection, key_id: str, *, now: float) -> bool:
    result = conn.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount == 1


def key_by_id_or_prefix(conn: Connection, ref: str) -> list[Row[Any]]:
    return list(conn.execute(select(api_keys).where((api_keys.c.id == ref) | (api_keys.c.prefix == ref))))


def touch_key(conn: Connection, key_id: str, *, now: float) -> None:
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


def set_password(conn: Connection, user_id: str, password_hash: str) -> None:
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, failed_logins=0, locked_until=None)
    )


def set_disabled(conn: Connection, user_id: str, disabled_at: float | None) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(disabled_at=disabled_at))
