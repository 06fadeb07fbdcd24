"""Responses: one request, accepted at once and run by the queue like any batch row."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from ...catalog import ModelCatalog
from ...domain.chat import FieldError, check_limits, normalise_chat_body
from ...domain.states import ACTIVE_ITEM_STATUSES, ErrorCode, ItemStatus
from ...domain.windows import DEFAULT_WINDOW, RESPONSE_WINDOWS, STREAM_WINDOWS
from ...errors import BadRequest, Conflict, NotFound
from ...ids import uuid7
from ...notify import Signal
from ...security.principal import Principal
from ...store import streams as stream_store
from ...store.changes import WORK_CHANNEL, announce
from ...store.database import Database
from ...store.queue import cancel_and_record, error_json
from ...store.tables import items
from ...timeutil import now
from ..pages import openai_list
from .schemas import response_summary, response_to_wire

MAX_METADATA_KEYS = 16
MAX_METADATA_VALUE = 512


class ResponseService:
    def __init__(self, db: Database, catalog: ModelCatalog, work_signal: Signal, events_signal: Signal) -> None:
        self.db = db
        self.catalog = catalog
        self.work_signal = work_signal
        self.events_signal = events_signal

    def create(self, who: Principal, body: Any) -> dict[str, Any]:
        chat, metadata = self._validate(body)
        stream_id = metadata.get("stream_id")
        accepted = now()
        item_id = uuid7()
        with self.db.write() as conn:
            window = metadata.get("completion_window", DEFAULT_WINDOW)
            if stream_id is not None:
                stream = stream_store.get_stream(conn, stream_id, user_id=who.user_id)
                if stream is None:
                    raise NotFound(f"no stream with id {stream_id!r} (metadata.stream_id)")
                if not stream_store.count_new_item(conn, stream_id, now=accepted):
                    raise Conflict(f"stream {stream_id} is {stream.status}; it accepts no new responses")
                window = stream.window
            conn.execute(
                insert(items),
                [
                    {
                        "id": item_id,
                        "user_id": who.user_id,
                        "stream_id": stream_id,
                        "custom_id": metadata.get("custom_id"),
                        "model": chat["model"],
                        "body": json.dumps(chat, separators=(",", ":")),
                        "status": ItemStatus.QUEUED,
                        "deadline": accepted + STREAM_WINDOWS[window],
                        "created_at": accepted,
                        "metadata": json.dumps(metadata) if metadata else None,
                    }
                ],
            )
            announce(conn, WORK_CHANNEL)
            row = conn.execute(select(items).where(items.c.id == item_id)).one()
        self.work_signal.fire()
        return response_to_wire(row)

    def _validate(self, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with model and input")
        if "input" not in body and "messages" not in body:
            raise _invalid([FieldError("input", "is required")])
        chat, problems = normalise_chat_body(body, context="", allow_background=True)
        metadata = body.get("metadata") or {}
        problems += _check_metadata(metadata)
        if chat is not None:
            limits = self.catalog.limits(chat["model"])
            if limits is None:
                problems.append(
                    FieldError(
                        "model",
                        f"model {chat['model']!r} is not served here; served models: {self.catalog.describe_served()}",
                    )
                )
            else:
                problems += check_limits(chat, limits, context="")
        if problems or chat is None:
            raise _invalid(problems)
        return chat, metadata

    def _row(self, who: Principal, response_id: str) -> Any:
        with self.db.read() as conn:
            row = conn.execute(select(items).where(items.c.id == response_id, items.c.user_id == who.user_id)).first()
        if row is None:
            raise NotFound(f"no response with id {response_id!r}")
        return row

    def get(self, who: Principal, response_id: str) -> dict[str, Any]:
        return response_to_wire(self._row(who, response_id))

    def cancel(self, who: Principal, response_id: str) -> dict[str, Any]:
        row = self._row(who, response_id)
        if row.status in ACTIVE_ITEM_STATUSES:
            error = error_json(ErrorCode.RESPONSE_CANCELLED, "the response was cancelled before it finished")
            with self.db.write() as conn:
                cancelled = cancel_and_record(
                    conn, items.c.id == response_id, statuses=ACTIVE_ITEM_STATUSES, error=error, now=now()
                )
            if cancelled:
                self.events_signal.fire()
        elif row.status != ItemStatus.CANCELLED:
            raise Conflict(f"response {response_id} already finished ({row.status}); it cannot be cancelled")
        return self.get(who, response_id)

    def list(self, who: Principal, *, limit: int, stream_id: str | None, after: str | None) -> dict[str, Any]:
        """Newest first: standalone responses, or one stream's."""
        with self.db.read() as conn:
            if stream_id is not None and stream_store.get_stream(conn, stream_id, user_id=who.user_id) is None:
                raise NotFound(f"no stream with id {stream_id!r}")
            query = select(items).where(
                items.c.user_id == who.user_id, items.c.batch_id.is_(None), items.c.stream_id == stream_id
            )
            if after is not None:
                query = query.where(items.c.id < after)
            rows = list(conn.execute(query.order_by(items.c.id.desc()).limit(limit + 1)))
        return openai_list(rows, limit, response_summary)


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
