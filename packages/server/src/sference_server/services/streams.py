"""Streams: long-lived containers that responses are added to over time."""

from __future__ import annotations

from typing import Any

from ...domain.states import ErrorCode, ItemStatus, StreamStatus
from ...errors import Conflict, NotFound
from ...ids import uuid7
from ...notify import Signal
from ...security.principal import Principal
from ...store import streams as store
from ...store.database import Database
from ...store.queue import cancel_and_record, error_json
from ...store.tables import items
from ...timeutil import now
from ..pages import newest_first
from .schemas import StreamCreate, StreamPatch, stream_detail, stream_summary

CANCELLED_MESSAGE = "the stream was cancelled before this request started"


class StreamService:
    def __init__(self, db: Database, events_signal: Signal) -> None:
        self.db = db
        self.events_signal = events_signal

    def create(self, who: Principal, spec: StreamCreate) -> dict[str, Any]:
        stream_id, created = uuid7(), now()
        with self.db.write() as conn:
            store.insert_stream(
                conn,
                {
                    "id": stream_id,
                    "user_id": who.user_id,
                    "name": spec.name,
                    "window": spec.window,
                    "status": StreamStatus.OPEN,
                    "created_at": created,
                    "updated_at": created,
                },
            )
        return self.get(who, stream_id)

    def get(self, who: Principal, stream_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = store.get_stream(conn, stream_id, user_id=who.user_id)
            if row is None:
                raise NotFound(f"no stream with id {stream_id!r}")
            return stream_detail(row, store.latest_event(conn, stream_id, user_id=who.user_id))

    def list(self, who: Principal, *, limit: int, before: str | None) -> dict[str, Any]:
        with self.db.read() as conn:
            rows = store.list_streams(conn, user_id=who.user_id, limit=limit + 1, before=before)
        return newest_first(rows, limit, stream_summary)

    def patch(self, who: Principal, stream_id: str, change: StreamPatch) -> dict[str, Any]:
        current = self.get(who, stream_id)
        if change.name is not None:
            with self.db.write() as conn:
                store.rename(conn, stream_id, change.name, now=now())
        if change.status is not None and change.status != current["status"]:
            self._move(stream_id, StreamStatus(change.status), current["status"])
        return self.get(who, stream_id)

    def _move(self, stream_id: str, target: StreamStatus, status: str) -> None:
        with self.db.write() as conn:
            if not store.move_to(conn, stream_id, target, now=now()):
                raise Conflict(f"stream {stream_id} is {status}; it cannot become {target.value}")
        if target == StreamStatus.CANCELLED:
            # A second transaction: once the first committed no item can join, so this one
            # sees every pending item. Items already running finish.
            error = error_json(ErrorCode.STREAM_CANCELLED, CANCELLED_MESSAGE)
            with self.db.write() as conn:
                cancelled = cancel_and_record(
                    conn, items.c.stream_id == stream_id, statuses=(ItemStatus.QUEUED,), error=error, now=now()
                )
            if cancelled:
                self.events_signal.fire()
