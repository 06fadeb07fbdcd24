"""Stream rows: create, read, list, change status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from ..domain.states import STREAM_TRANSITIONS, StreamStatus
from .tables import completion_events, streams


def insert_stream(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(streams), [row])


def get_stream(conn: Connection, stream_id: str, *, user_id: str) -> Row[Any] | None:
    return conn.execute(select(streams).where(streams.c.id == stream_id, streams.c.user_id == user_id)).first()


def list_streams(conn: Connection, *, user_id: str, limit: int, before: str | None = None) -> list[Row[Any]]:
    query = select(streams).where(streams.c.user_id == user_id)
    if before is not None:
        query = query.where(streams.c.id < before)
    return list(conn.execute(query.order_by(streams.c.id.desc()).limit(limit)))


def latest_event(conn: Connection, stream_id: str, *, user_id: str) -> Any:
    """The newest completion event of a stream (derived from the events, not stored twice)."""
    newest = (
        select(func.max(completion_events.c.id))
        .where(completion_events.c.user_id == user_id, completion_events.c.stream_id == stream_id)
        .scalar_subquery()
    )
    return conn.execute(
        select(completion_events.c.id, completion_events.c.created_at).where(completion_events.c.id == newest)
    ).first()


def move_to(conn: Connection, stream_id: str, target: StreamStatus, *, now: float) -> bool:
    """Guarded status change; False when the stream is not in a status ``target`` is reached from."""
    stamp = {StreamStatus.CANCELLED: "cancelled_at", StreamStatus.ARCHIVED: "archived_at"}[target]
    result = conn.execute(
        update(streams)
        .where(streams.c.id == stream_id, streams.c.status.in_(STREAM_TRANSITIONS[target]))
        .values(status=target, updated_at=now, **{stamp: now})
    )
    return result.rowcount == 1


def rename(conn: Connection, stream_id: str, name: str, *, now: float) -> None:
    conn.execute(update(streams).where(streams.c.id == stream_id).values(name=name, updated_at=now))


def count_new_item(conn: Connection, stream_id: str, *, now: float) -> bool:
    """Count one more queued item, only while the stream is open (False otherwise)."""
    result = conn.execute(
        update(streams)
        .where(streams.c.id == stream_id, streams.c.status == StreamStatus.OPEN)
        .values(request_count=streams.c.request_count + 1, queued_count=streams.c.queued_count + 1, updated_at=now)
    )
    return result.rowcount == 1
