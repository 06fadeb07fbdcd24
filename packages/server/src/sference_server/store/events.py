"""Completion events: appended in the same transaction as the item's terminal write.

Feed consumers read ``WHERE id > cursor``, so ids must grow in *commit* order, not just in
creation order. On PostgreSQL a transaction-scoped advisory lock serialises the append until
commit, and each new id is made greater than the newest stored one (which also absorbs clock skew
between machines). SQLite has a single writer, so the same code is ordered by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from ..ids import uuid7_after
from .tables import completion_events

_EVENTS_LOCK_KEY = 0x5F3E_0001


@dataclass(frozen=True)
class NewEvent:
    item_id: str
    user_id: str
    batch_id: str | None
    status: str


def append_events(conn: Connection, events: Sequence[NewEvent], now: float) -> None:
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_EVENTS_LOCK_KEY})")
    last = conn.execute(select(completion_events.c.id).order_by(completion_events.c.id.desc()).limit(1)).scalar()
    rows = []
    for event in events:
        last = uuid7_after(last or "")
        rows.append(
            {
                "id": last,
                "item_id": event.item_id,
                "user_id": event.user_id,
                "batch_id": event.batch_id,
                "status": event.status,
                "created_at": now,
            }
        )
    conn.execute(insert(completion_events), rows)
