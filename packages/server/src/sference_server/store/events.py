"""Completion events: appended in the same transaction as the item's terminal write.

Feed consumers read ``WHERE id > cursor``, so ids must grow in *commit* order, not just in
creation order. On PostgreSQL a transaction-scoped advisory lock serialises the append until
commit, and each new id is made greater than the newest stored one (which also absorbs clock skew
between machines). SQLite has a single writer, so the same code is ordered by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select

from ..ids import uuid7s_after
from .changes import EVENTS_CHANNEL, announce
from .database import Tx
from .many import ManyStatement, driver_value
from .records import FeedEvent
from .tables import completion_events, items

_EVENTS_LOCK_KEY = 0x5F3E_0001
_EVENT_COLUMNS = ("id", "item_id", "user_id", "batch_id", "stream_id", "status", "created_at")
_APPEND = ManyStatement(lambda: insert(completion_events).values({name: bindparam(name) for name in _EVENT_COLUMNS}))


@dataclass(frozen=True)
class NewEvent:
    item_id: str
    user_id: str
    batch_id: str | None
    stream_id: str | None
    status: str


def append_events(conn: Tx, events: Sequence[NewEvent], now: float) -> None:
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_EVENTS_LOCK_KEY})")
    last = conn.execute(select(completion_events.c.id).order_by(completion_events.c.id.desc()).limit(1)).scalar()
    rows = []
    for event_id, event in zip(uuid7s_after(last or "", len(events)), events, strict=True):
        rows.append(
            {
                "id": event_id,
                "item_id": event.item_id,
                "user_id": event.user_id,
                "batch_id": event.batch_id,
                "stream_id": event.stream_id,
                "status": driver_value(event.status),
                "created_at": now,
            }
        )
    _APPEND.execute(conn, rows)
    announce(conn, EVENTS_CHANNEL)


def read_feed(
    tx: Tx, *, user_id: str, stream_id: str | None, after: str | None, before: str | None, limit: int
) -> tuple[list[FeedEvent], bool]:
    """A page of one user's feed (one stream's events, or those of no stream), oldest first.

    With ``after``: the first ``limit`` events after it. Otherwise the newest ``limit`` events
    (before ``before``, if given). Returns the events joined with their items, and whether more
    events lie beyond the page in the direction read.
    """
    query = (
        select(
            completion_events.c.id.label("event_id"),
            completion_events.c.created_at.label("event_created_at"),
            completion_events.c.status.label("event_status"),
            items,
        )
        .join(items, items.c.id == completion_events.c.item_id)
        .where(completion_events.c.user_id == user_id, completion_events.c.stream_id == stream_id)
    )
    if after is not None:
        query = query.where(completion_events.c.id > after)
    if before is not None:
        query = query.where(completion_events.c.id < before)
    newest_first = after is None
    order = completion_events.c.id.desc() if newest_first else completion_events.c.id
    rows = list(tx.execute(query.order_by(order).limit(limit + 1)))
    more = len(rows) > limit
    page = [FeedEvent.from_row(r) for r in rows[:limit]]
    if newest_first:
        page.reverse()
    return page, more
