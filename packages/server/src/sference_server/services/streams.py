"""Streams: long-lived containers that responses are added to over time."""

from __future__ import annotations

from ..domain.states import IllegalTransition, StreamStatus
from ..errors import Conflict, NotFound
from ..ids import uuid7
from ..security.principal import Principal
from ..store import streams as store
from ..store.database import Database
from ..store.records import LatestCompletion, Stream
from ..timeutil import now
from .estimates import Estimates
from .lifecycle import Lifecycle


class StreamService:
    def __init__(self, db: Database, lifecycle: Lifecycle, estimates: Estimates) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.estimates = estimates

    def create(self, who: Principal, *, name: str, window: str, webhook_responses: bool = False) -> Stream:
        stream_id = uuid7()
        with self.db.write() as tx:
            store.insert_stream(
                tx,
                stream_id=stream_id,
                user_id=who.user_id,
                name=name,
                window=window,
                now=now(),
                webhook_responses=webhook_responses,
            )
        return self.get(who, stream_id)

    def get(self, who: Principal, stream_id: str) -> Stream:
        with self.db.read() as tx:
            return _found(store.get_stream(tx, stream_id, user_id=who.user_id), stream_id)

    def detail(self, who: Principal, stream_id: str) -> tuple[Stream, LatestCompletion | None, float | None]:
        """The stream, its newest completion, and when its unfinished requests should be done."""
        with self.db.read() as tx:
            stream = _found(store.get_stream(tx, stream_id, user_id=who.user_id), stream_id)
            latest = store.latest_completion(tx, stream_id, user_id=who.user_id)
        return stream, latest, self.estimates.stream(stream)

    def list(self, who: Principal, *, limit: int, before: str | None) -> list[Stream]:
        """Newest first, ``limit + 1`` of them (the extra one says more exist)."""
        with self.db.read() as tx:
            return store.list_streams(tx, user_id=who.user_id, limit=limit + 1, before=before)

    def patch(
        self,
        who: Principal,
        stream_id: str,
        *,
        name: str | None,
        status: str | None,
        webhook_responses: bool | None = None,
    ) -> None:
        current = self.get(who, stream_id)
        if name is not None:
            with self.db.write() as tx:
                store.rename(tx, stream_id, name, now=now())
        if webhook_responses is not None:
            with self.db.write() as tx:
                store.set_webhook_responses(tx, stream_id, webhook_responses, now=now())
        if status is not None and status != current.status:
            self._move(stream_id, StreamStatus(status), current.status)

    def _move(self, stream_id: str, target: StreamStatus, status: str) -> None:
        try:
            if target == StreamStatus.CANCELLED:
                self.lifecycle.cancel_stream(stream_id)
            else:
                with self.db.write() as tx:
                    store.move_to(tx, stream_id, target, now=now())
        except IllegalTransition as exc:
            raise Conflict(f"stream {stream_id} is {status}; it cannot become {target.value}") from exc


def _found(stream: Stream | None, stream_id: str) -> Stream:
    if stream is None:
        raise NotFound(f"no stream with id {stream_id!r}")
    return stream
