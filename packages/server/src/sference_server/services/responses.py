"""Responses: one request, accepted at once and run by the queue like any batch row."""

from __future__ import annotations

from typing import Any

from ..domain.chat import FieldError
from ..domain.outcome import ItemError
from ..domain.states import ACTIVE_ITEM_STATUSES, ErrorCode, ItemStatus, Priority
from ..domain.windows import DEFAULT_WINDOW, RESPONSE_WINDOWS, STREAM_WINDOWS
from ..errors import BadRequest, Conflict, NotFound
from ..security.principal import Principal
from ..store import items as item_store
from ..store import streams as stream_store
from ..store.database import Database, Tx
from ..store.queue import Scope
from ..store.records import Item
from .lifecycle import Lifecycle

MAX_METADATA_KEYS = 16
MAX_METADATA_VALUE = 512
CANCELLED = ItemError(ErrorCode.RESPONSE_CANCELLED, "the response was cancelled before it finished")


class ResponseService:
    def __init__(self, db: Database, lifecycle: Lifecycle) -> None:
        self.db = db
        self.lifecycle = lifecycle

    def create(self, who: Principal, body: Any, *, priority: Priority = Priority.QUEUED) -> Item:
        """Queue a response; ``priority`` interactive when a client waits for it on the connection."""
        chat, metadata = self._validate(body)
        stream_id = metadata.get("stream_id")
        window = metadata.get("completion_window", DEFAULT_WINDOW)

        def join_stream(tx: Tx, accepted: float) -> float | None:
            if stream_id is None:
                return None
            stream = stream_store.get_stream(tx, stream_id, user_id=who.user_id)
            if stream is None:
                raise NotFound(f"no stream with id {stream_id!r} (metadata.stream_id)")
            if not stream_store.count_new_item(tx, stream_id, now=accepted):
                raise Conflict(f"stream {stream_id} is {stream.status}; it accepts no new responses")
            return STREAM_WINDOWS[stream.window]

        return self.lifecycle.enqueue(
            who,
            chat,
            window_seconds=STREAM_WINDOWS[window],
            stream_id=stream_id,
            custom_id=metadata.get("custom_id"),
            metadata=metadata or None,
            before_insert=join_stream,
            priority=priority,
        )

    def _validate(self, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with model and input")
        if "input" not in body and "messages" not in body:
            raise _invalid([FieldError("input", "is required")])
        chat, problems = self.lifecycle.validate(body, allow_background=True)
        metadata = body.get("metadata") or {}
        problems += _check_metadata(metadata)
        if problems or chat is None:
            raise _invalid(problems)
        return chat, metadata

    def get(self, who: Principal, response_id: str) -> Item:
        with self.db.read() as tx:
            item = item_store.get_item(tx, response_id, user_id=who.user_id)
        if item is None:
            raise NotFound(f"no response with id {response_id!r}")
        return item

    def cancel(self, who: Principal, response_id: str) -> Item:
        item = self.get(who, response_id)
        if item.status in ACTIVE_ITEM_STATUSES:
            self.lifecycle.cancel(Scope(item_id=response_id), CANCELLED)
        elif item.status != ItemStatus.CANCELLED:
            raise Conflict(f"response {response_id} already finished ({item.status}); it cannot be cancelled")
        return self.get(who, response_id)

    def list(self, who: Principal, *, limit: int, stream_id: str | None, after: str | None) -> list[Item]:
        """Newest first, ``limit + 1`` of them: standalone responses, or one stream's."""
        with self.db.read() as tx:
            if stream_id is not None and stream_store.get_stream(tx, stream_id, user_id=who.user_id) is None:
                raise NotFound(f"no stream with id {stream_id!r}")
            return item_store.list_responses(
                tx, user_id=who.user_id, stream_id=stream_id, before=after, limit=limit + 1
            )


def _check_metadata(metadata: Any) -> list[FieldError]:
    if not isinstance(metadata, dict):
        return [FieldError("metadata", "must be an object")]
    problems = []
    if len(metadata) > MAX_METADATA_KEYS:
        problems.append(FieldError("metadata", f"at most {MAX_METADATA_KEYS} keys"))
    for key, value in metadata.items():
        if isinstance(value, str) and len(value) > MAX_METADATA_VALUE:
            problems.append(FieldError(f"metadata.{key}", f"at most {MAX_METADATA_VALUE} characters"))
    for key in ("stream_id", "custom_id"):
        if key in metadata and not (isinstance(metadata[key], str) and metadata[key]):
            problems.append(FieldError(f"metadata.{key}", "must be a non-empty string"))
    window = metadata.get("completion_window")
    if window is not None and window not in RESPONSE_WINDOWS:
        problems.append(FieldError("metadata.completion_window", f"must be one of {', '.join(RESPONSE_WINDOWS)}"))
    return problems


def _invalid(problems: list[FieldError]) -> BadRequest:
    detail = "; ".join(str(p) for p in problems)
    return BadRequest(detail, extra=[{"loc": p.field, "message": p.message} for p in problems])
