"""Idempotency keys: which object a client's keyed submission made, for ``KEEP_SECONDS``."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from .database import Duplicate, Tx
from .tables import idempotency_keys

KEEP_SECONDS = 24 * 3600.0


def find(tx: Tx, *, user_id: str, scope: str, key: str, now: float) -> str | None:
    """The object made under this key within the last day, if any."""
    table = idempotency_keys.c
    return tx.execute(
        select(table.object_id).where(
            table.user_id == user_id, table.scope == scope, table.key == key, table.created_at > now - KEEP_SECONDS
        )
    ).scalar()


def remember(tx: Tx, *, user_id: str, scope: str, key: str, object_id: str, now: float) -> None:
    """Raises ``Duplicate`` when another submission with this key got there first (the caller's
    transaction is then rolled back). An expired row of the key is replaced."""
    tx.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.user_id == user_id,
            idempotency_keys.c.scope == scope,
            idempotency_keys.c.key == key,
            idempotency_keys.c.created_at <= now - KEEP_SECONDS,
        )
    )
    try:
        tx.execute(
            insert(idempotency_keys),
            [{"user_id": user_id, "scope": scope, "key": key, "object_id": object_id, "created_at": now}],
        )
    except IntegrityError as exc:
        raise Duplicate(f"idempotency key {key!r}") from exc


def forget_expired(tx: Tx, *, now: float) -> int:
    result = tx.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at <= now - KEEP_SECONDS))
    return int(result.rowcount or 0)
