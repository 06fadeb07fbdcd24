"""Item and batch states, and the transitions the store allows.

Item:  queued -> running -> completed | failed | cancelled | expired
          \\-----------------------------> cancelled | expired
A running item whose lease ran out, or whose engine error is transient, goes back to queued.

Batch: pending (nothing started) -> running -> completed | failed | cancelled.
A finished batch is ``completed`` when at least one item completed, otherwise ``failed`` with an
error saying why (every request failed, or the window ran out before any finished).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ItemStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


ACTIVE_ITEM_STATUSES = (ItemStatus.QUEUED, ItemStatus.RUNNING)
TERMINAL_ITEM_STATUSES = (ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.CANCELLED, ItemStatus.EXPIRED)


class BatchStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_BATCH_STATUSES = (BatchStatus.PENDING, BatchStatus.RUNNING)
TERMINAL_BATCH_STATUSES = (BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED)

# The batch counter column that holds the number of items in each status.
COUNTER_COLUMN = {status: f"{status.value}_count" for status in ItemStatus}


class ErrorCode(StrEnum):
    """``error_json.code`` values an item can end with."""

    BATCH_EXPIRED = "batch_expired"
    BATCH_CANCELLED = "batch_cancelled"
    STREAM_CANCELLED = "stream_cancelled"
    RESPONSE_CANCELLED = "response_cancelled"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    INVALID_REQUEST = "invalid_request"
    ENGINE_ERROR = "engine_error"
    WORKER_LOST = "worker_lost"
    MODEL_UNAVAILABLE = "model_unavailable"


class Priority(IntEnum):
    """Claimed lowest first, then by deadline. Interactive requests (a client waits on the
    connection) go ahead of queued work, which is ordered earliest deadline first."""

    INTERACTIVE = 0
    QUEUED = 1


class StreamStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"


# Which stream statuses each PATCH target may be reached from.
STREAM_TRANSITIONS = {
    StreamStatus.CANCELLED: (StreamStatus.OPEN,),
    StreamStatus.ARCHIVED: (StreamStatus.OPEN, StreamStatus.CANCELLED),
}

# How an item's status reads through the Responses API.
RESPONSE_STATUS = {
    ItemStatus.QUEUED: "in_progress",
    ItemStatus.RUNNING: "in_progress",
    ItemStatus.COMPLETED: "completed",
    ItemStatus.FAILED: "failed",
    ItemStatus.EXPIRED: "failed",
    ItemStatus.CANCELLED: "cancelled",
}
