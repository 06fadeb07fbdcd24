"""Users and API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .database import Duplicate, Tx
from .records import ApiKey, KeyOwner, User
from .tables import api_keys, users


def count_users(conn: Tx) -> int:
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def insert_user(conn: Tx, row: dict[str, Any]) -> None:
    """Raises ``Duplicate`` when the username is taken."""
    try:
        conn.execute(insert(users), [row])
    except IntegrityError as exc:
        raise Duplicate(row["username"]) from exc


def user_by_name(conn: Tx, username: str) -> User | None:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    return User.from_row(row) if row is not None else None


def username_of(conn: Tx, user_id: str) -> str | None:
    return conn.execute(select(users.c.username).where(users.c.id == user_id)).scalar_one_or_none()


def list_users(conn: Tx) -> list[User]:
    return [User.from_row(r) for r in conn.execute(select(users).order_by(users.c.created_at))]


def insert_key(conn: Tx, row: dict[str, Any]) -> None:
    """Raises ``Duplicate`` when the key is already registered."""
    try:
        conn.execute(insert(api_keys), [row])
    except IntegrityError as exc:
        raise Duplicate("api key") from exc


def key_with_user(conn: Tx, key_hash: str) -> KeyOwner | None:
    """The key with this hash, joined with its owner."""
    row = conn.execute(
        select(
            api_keys.c.id.label("key_id"),
            api_keys.c.name.label("key_name"),
            api_keys.c.prefix,
            api_keys.c.scopes,
            api_keys.c.api_version,
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
    ).first()
    return KeyOwner.from_row(row) if row is not None else None


def list_keys(conn: Tx, *, user_id: str | None = None) -> list[ApiKey]:
    query = select(api_keys, users.c.username).join(users, users.c.id == api_keys.c.user_id)
    if user_id is not None:
        query = query.where(api_keys.c.user_id == user_id)
    return [ApiKey.from_row(r) for r in conn.execute(query.order_by(api_keys.c.created_at))]


def revoke_key(conn: Tx, key_id: str, *, now: float) -> bool:
    result = conn.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount == 1


def set_key_version(conn: Tx, key_id: str, api_version: str, *, user_id: str | None = None) -> bool:
    """``user_id``: only if the key is theirs."""
    query = update(api_keys).where(api_keys.c.id == key_id)
    if user_id is not None:
        query = query.where(api_keys.c.user_id == user_id)
    return conn.execute(query.values(api_version=api_version)).rowcount == 1


def key_ids_by_id_or_prefix(conn: Tx, ref: str) -> list[str]:
    return list(
        conn.execute(select(api_keys.c.id).where((api_keys.c.id == ref) | (api_keys.c.prefix == ref))).scalars()
    )


def touch_key(conn: Tx, key_id: str, *, now: float) -> None:
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


def set_password(conn: Tx, user_id: str, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def set_disabled(conn: Tx, user_id: str, disabled_at: float | None) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(disabled_at=disabled_at))
