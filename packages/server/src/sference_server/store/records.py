"""Typed, frozen records: what the store hands its callers (never a ``Row`` or a dict).

Each ``from_row`` takes a row of the table it is named after (or any mapping with those columns);
stored JSON becomes typed values here, once (``Output``, ``ItemError``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self

from ..domain.outcome import ChatOutput, ItemError, Output, output_from_json
from ..domain.states import BatchStatus, ItemStatus, Priority, StreamStatus
from .tables import HELD_PRIORITY


def _mapping(row: Any) -> Mapping[str, Any]:
    return row._mapping if hasattr(row, "_mapping") else row  # type: ignore[no-any-return]


def _columns(record: Any, row: Any) -> dict[str, Any]:
    """The row's values of the record's fields (records whose fields are the columns as stored)."""
    m = _mapping(row)
    return {f.name: m[f.name] for f in fields(record)}


class _ColumnsAsStored:
    """A record whose fields are columns of the row, taken as stored."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(**_columns(cls, row))


def stored_priority(value: int) -> Priority:
    """A row's priority class: a held row (``HELD_PRIORITY``, not yet released) is a queued one."""
    return Priority.QUEUED if value == HELD_PRIORITY else Priority(value)


def _json_object(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


@dataclass(frozen=True)
class Item:
    """One inference request, whatever submitted it (a batch row, a stream item, a response)."""

    id: str
    user_id: str
    batch_id: str | None
    stream_id: str | None
    row_index: int | None
    custom_id: str | None
    model: str
    body: str  # the normalised chat body as JSON text (domain/chat.py)
    status: ItemStatus
    priority: Priority
    deadline: float
    attempts: int
    created_at: float
    started_at: float | None
    completed_at: float | None
    output: Output | None
    error: ItemError | None
    prompt_tokens: int | None
    completion_tokens: int | None
    metadata: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _mapping(row)
        return cls(
            id=m["id"],
            user_id=m["user_id"],
            batch_id=m["batch_id"],
            stream_id=m["stream_id"],
            row_index=m["row_index"],
            custom_id=m["custom_id"],
            model=m["model"],
            body=m["body"],
            status=ItemStatus(m["status"]),
            priority=stored_priority(m["priority"]),
            deadline=m["deadline"],
            attempts=m["attempts"],
            created_at=m["created_at"],
            started_at=m["started_at"],
            completed_at=m["completed_at"],
            output=output_from_json(m["result"]) if m["result"] else None,
            error=ItemError.from_json(m["error"]) if m["error"] else None,
            prompt_tokens=m["prompt_tokens"],
            completion_tokens=m["completion_tokens"],
            metadata=_json_object(m["metadata"]),
        )

    def chat_body(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def chat_output(self) -> ChatOutput | None:
        """The output of a chat request (None before it finished, or for other kinds of work)."""
        return self.output if isinstance(self.output, ChatOutput) else None


_ITEM_STATUS = {status.value: status for status in ItemStatus}


@dataclass(frozen=True, slots=True)
class ResultRow:
    """A finished batch row as its results line needs it, read without the rest of the item
    (``Item.from_row`` cost more than rendering the line). ``body``, the request, only where the
    answer depends on it (an embedding's ``encoding_format``); None otherwise."""

    id: str
    custom_id: str | None
    model: str
    status: ItemStatus
    output: Output | None
    error: ItemError | None
    body: str | None

    @classmethod
    def from_values(
        cls, id: str, custom_id: str | None, model: str, status: str, result: str | None, error: str | None
    ) -> ResultRow:
        """From the columns of ``items`` of those names, in that order (``body`` comes later)."""
        return cls(
            id,
            custom_id,
            model,
            _ITEM_STATUS[status],
            output_from_json(result) if result else None,
            ItemError.from_json(error) if error else None,
            None,
        )


@dataclass(frozen=True)
class Counters:
    """Items of a batch or stream per status once they left the queue, and token totals:
    ``cached_tokens`` of the ``prompt_tokens`` came from a prefix cache, ``reasoning_tokens`` of
    the ``completion_tokens`` were spent thinking."""

    request_count: int
    queued_count: int
    running_count: int
    completed_count: int
    failed_count: int
    cancelled_count: int
    expired_count: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(**{name: int(value) for name, value in _columns(cls, row).items()})

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cached_share(self) -> float:
        """The share of prompt tokens served from a prefix cache, to 4 places (0 before any)."""
        return round(self.cached_tokens / self.prompt_tokens, 4) if self.prompt_tokens else 0.0

    @property
    def finished(self) -> int:
        return self.completed_count + self.failed_count + self.cancelled_count + self.expired_count


@dataclass(frozen=True)
class Batch:
    id: str
    user_id: str
    model: str
    window: str
    status: BatchStatus
    created_at: float
    updated_at: float
    deadline: float
    started_at: float | None
    completed_at: float | None
    cancelled_at: float | None
    counts: Counters
    error: ItemError | None
    retry_of: str | None  # the batch whose unfinished rows this one re-runs

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _mapping(row)
        return cls(
            id=m["id"],
            user_id=m["user_id"],
            model=m["model"],
            window=m["window"],
            status=BatchStatus(m["status"]),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            deadline=m["deadline"],
            started_at=m["started_at"],
            completed_at=m["completed_at"],
            cancelled_at=m["cancelled_at"],
            counts=Counters.from_row(m),
            error=ItemError.from_json(m["error"]) if m["error"] else None,
            retry_of=m["retry_of"],
        )


@dataclass(frozen=True)
class Stream:
    id: str
    user_id: str
    name: str
    window: str
    status: StreamStatus
    created_at: float
    updated_at: float
    cancelled_at: float | None
    archived_at: float | None
    counts: Counters
    webhook_responses: bool = False  # its completed items send ``response.completed`` webhooks

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _mapping(row)
        return cls(
            id=m["id"],
            user_id=m["user_id"],
            name=m["name"],
            window=m["window"],
            status=StreamStatus(m["status"]),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            cancelled_at=m["cancelled_at"],
            archived_at=m["archived_at"],
            counts=Counters.from_row(m),
            webhook_responses=bool(m.get("webhook_responses") or 0),
        )


@dataclass(frozen=True)
class LatestCompletion:
    """The newest completion event of a stream."""

    id: str
    created_at: float


@dataclass(frozen=True)
class FeedEvent:
    """A completion event joined with its item: one entry of the events feed."""

    id: str
    created_at: float
    status: ItemStatus
    item: Item

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _mapping(row)
        return cls(
            id=m["event_id"],
            created_at=m["event_created_at"],
            status=ItemStatus(m["event_status"]),
            item=Item.from_row(m),
        )


@dataclass(frozen=True)
class FileRecord(_ColumnsAsStored):
    id: str
    user_id: str
    filename: str
    purpose: str
    kind: str  # upload | batch_output | batch_error
    batch_id: str | None
    bytes: int | None
    created_at: float


@dataclass(frozen=True)
class OpenAIBatch:
    """An OpenAI Batch API batch: the sference batch it wraps and what the Batch API adds."""

    batch: Batch
    endpoint: str
    input_file_id: str
    output_file_id: str | None
    error_file_id: str | None
    metadata: dict[str, Any] | None
    errors: list[dict[str, Any]] | None = field(default=None)  # validation errors of its input file

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _mapping(row)
        return cls(
            batch=Batch.from_row(m),
            endpoint=m["endpoint"],
            input_file_id=m["input_file_id"],
            output_file_id=m["output_file_id"],
            error_file_id=m["error_file_id"],
            metadata=_json_object(m["metadata"]),
            errors=json.loads(m["errors"]) if m["errors"] else None,
        )


@dataclass(frozen=True)
class User(_ColumnsAsStored):
    id: str
    username: str
    role: str
    password_hash: str | None
    created_at: float
    disabled_at: float | None


@dataclass(frozen=True)
class ApiKey(_ColumnsAsStored):
    """An API key as listed (its hash stays in the store), with its owner's username."""

    id: str
    user_id: str
    username: str
    name: str
    prefix: str
    scopes: str
    created_at: float
    last_used_at: float | None
    expires_at: float | None
    revoked_at: float | None
    api_version: str


@dataclass(frozen=True)
class KeyOwner(_ColumnsAsStored):
    """A key found by its hash, joined with the user it belongs to (authentication)."""

    key_id: str
    key_name: str
    prefix: str
    scopes: str
    api_version: str
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    user_id: str
    username: str
    role: str
    disabled_at: float | None


@dataclass(frozen=True)
class SessionUser(_ColumnsAsStored):
    """A live console session joined with its user."""

    csrf_token: str
    id: str
    username: str
    role: str
    disabled_at: float | None


@dataclass(frozen=True)
class DeviceCode(_ColumnsAsStored):
    """An RFC 8628 device authorisation: pending, approved, denied or used."""

    id: str
    user_code: str
    client_id: str
    label: str | None
    status: str
    user_id: str | None
    interval: float
    created_at: float
    expires_at: float
    last_polled_at: float | None
    requested_ip: str | None  # where the code was asked for from (shown on the approval page)
    requested_agent: str | None


@dataclass(frozen=True)
class Grant(_ColumnsAsStored):
    """What an approved device holds (a signed-in CLI)."""

    id: str
    user_id: str
    client_id: str
    label: str | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True)
class TokenGrant(_ColumnsAsStored):
    """An access or refresh token found by its hash, with its grant and the grant's user."""

    kind: str  # access | refresh
    expires_at: float
    rotated_at: float | None
    grant_id: str
    client_id: str
    label: str | None
    revoked_at: float | None
    granted_at: float  # the grant's created_at: its lifetime counts from here
    user_id: str
    username: str
    role: str
    disabled_at: float | None
