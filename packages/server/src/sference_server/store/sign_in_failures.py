"""Decaying scores per key (``ip:<address>``, ``user:<name>``, ...): the rows behind
``security/throttle.py``, which owns the arithmetic."""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .database import Tx
from .tables import sign_in_failures as table


def read(conn: Tx, keys: list[str]) -> dict[str, tuple[float, float]]:
    """``{key: (score, updated_at)}`` of the keys that have a row."""
    rows = conn.execute(select(table).where(table.c.key.in_(keys)))
    return {r.key: (r.score, r.updated_at) for r in rows}


def lock(conn: Tx, keys: list[str], *, now: float) -> dict[str, tuple[float, float]]:
    """Create missing rows (score 0), lock all of them (PostgreSQL) in key order, and read them:
    concurrent increments of one key then serialise instead of losing one."""
    ordered = sorted(set(keys))
    upsert = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    conn.execute(
        upsert.on_conflict_do_nothing(index_elements=["key"]),
        [{"key": k, "score": 0.0, "updated_at": now} for k in ordered],
    )
    query = select(table).where(table.c.key.in_(ordered)).order_by(table.c.key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {r.key: (r.score, r.updated_at) for r in conn.execute(query)}


def put(conn: Tx, key: str, *, score: float, now: float) -> None:
    conn.execute(update(table).where(table.c.key == key).values(score=score, updated_at=now))


def forget(conn: Tx, keys: list[str]) -> None:
    conn.execute(delete(table).where(table.c.key.in_(keys)))


def forget_older_than(conn: Tx, before: float, *, prefixes: tuple[str, ...]) -> int:
    """Delete the rows of keys starting with one of ``prefixes`` last counted before ``before``."""
    of_these = or_(*(table.c.key.startswith(p, autoescape=True) for p in prefixes))
    return conn.execute(delete(table).where(table.c.updated_at < before, of_these)).rowcount or 0
