"""The stream table: create, read, list, change status, count new items."""

from __future__ import annotations

from sqlalchemy import func, insert, select, update

from ..domain.states import STREAM_TRANSITIONS, StreamStatus
from . import guards
from .database import Tx
from .records import LatestCompletion, Stream
from .tables import completion_events, streams


def insert_stream(
    tx: Tx, *, stream_id: str, user_id: str, name: str, window: str, now: float, webhook_responses: bool = False
) -> None:
    tx.execute(
        insert(streams),
        [
            {
                "id": stream_id,
                "user_id": user_id,
                "name": name,
                "window": window,
                "status": StreamStatus.OPEN,
                "created_at": now,
                "updated_at": now,
                "webhook_responses": int(webhook_responses),
            }
        ],
    )


def get_stream(tx: Tx, stream_id: str, *, user_id: str) -> Stream | None:
    row = tx.execute(select(streams).where(streams.c.id == stream_id, streams.c.user_id == user_id)).first()
    return Stream.from_row(row) if row is not None else None


def list_streams(tx: Tx, *, user_id: str, limit: int, before: str | None = None) -> list[Stream]:
    query = select(streams).where(streams.c.user_id == user_id)
    if before is not None:
        query = query.where(streams.c.id < before)
    return [Stream.from_row(r) for r in tx.execute(query.order_by(streams.c.id.desc()).limit(limit))]


def latest_completion(tx: Tx, stream_id: str, *, user_id: str) -> LatestCompletion | None:
    """The newest completion event of a stream (derived from the events, not stored twice)."""
    newest = (
        select(func.max(completion_events.c.id))
        .where(completion_events.c.user_id == user_id, completion_events.c.stream_id == stream_id)
        .scalar_subquery()
    )
    row = tx.execute(
        select(completion_events.c.id, completion_events.c.created_at).where(completion_events.c.id == newest)
    ).first()
    return LatestCompletion(row.id, row.created_at) if row is not None else None


def move_to(tx: Tx, stream_id: str, target: StreamStatus, *, now: float) -> None:
    """Guarded status change; raises ``IllegalTransition`` when ``target`` is not reachable."""
    stamp = {StreamStatus.CANCELLED: "cancelled_at", StreamStatus.ARCHIVED: "archived_at"}[target]
    guards.move(tx, streams, stream_id, target, STREAM_TRANSITIONS, what="stream", updated_at=now, **{stamp: now})


def rename(tx: Tx, stream_id: str, name: str, *, now: float) -> None:
    tx.execute(update(streams).where(streams.c.id == stream_id).values(name=name, updated_at=now))


def set_webhook_responses(tx: Tx, stream_id: str, on: bool, *, now: float) -> None:
    """Whether the stream's items send ``response.completed`` webhooks as they complete."""
    tx.execute(update(streams).where(streams.c.id == stream_id).values(webhook_responses=int(on), updated_at=now))


def count_new_item(tx: Tx, stream_id: str, *, now: float) -> bool:
    """Count one more queued item, only while the stream is open (False otherwise)."""
    result = tx.execute(
        update(streams)
        .where(streams.c.id == stream_id, streams.c.status == StreamStatus.OPEN)
        .values(request_count=streams.c.request_count + 1, queued_count=streams.c.queued_count + 1, updated_at=now)
    )
    return result.rowcount == 1
