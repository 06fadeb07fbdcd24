"""The state machines of the request lifecycle, as data.

Item:  queued -> running -> completed | failed | cancelled | expired
          \\-----------------------------> cancelled | expired
A running item whose lease ran out, or whose engine error is transient, goes back to queued.

Batch: ingesting -> pending (nothing started) -> running -> completed | failed | cancelling -> cancelled.
An ``ingesting`` batch is being written in chunks and is invisible (and nothing of it is claimed)
until its last chunk makes it ``pending``; one abandoned by a crash is deleted by the sweep.
A cancel first marks the batch ``cancelling`` (nothing of it is claimed from then on), then
cancels its items in bounded transactions, then marks it ``cancelled``; a cancel interrupted by a
crash is finished by the next sweep.
A finished batch is ``completed`` when at least one item completed, otherwise ``failed`` with an
error saying why (every request failed, or the window ran out before any finished).

Stream: open -> cancelled -> archived (or open -> archived).

OpenAI batch (what ``/openai/v1/batches`` reports, derived from the batch it wraps):
in_progress -> completed | expired | failed | cancelling -> cancelled; a batch whose input file failed
validation is ``failed`` from the start.

The store moves rows only along these tables: every status change is a guarded UPDATE whose
``WHERE status IN (...)`` comes from ``sources(...)``; a single-row change that matches nothing
raises ``IllegalTransition`` (store/guards.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum

from ..errors import Conflict


class ItemStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class BatchStatus(StrEnum):
    INGESTING = "ingesting"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class StreamStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"


class OpenAIBatchStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"


ITEM_TRANSITIONS: Mapping[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.QUEUED: frozenset({ItemStatus.RUNNING, ItemStatus.CANCELLED, ItemStatus.EXPIRED}),
    ItemStatus.RUNNING: frozenset(
        {ItemStatus.QUEUED, ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.CANCELLED, ItemStatus.EXPIRED}
    ),
    ItemStatus.COMPLETED: frozenset(),
    ItemStatus.FAILED: frozenset(),
    ItemStatus.CANCELLED: frozenset(),
    ItemStatus.EXPIRED: frozenset(),
}

BATCH_TRANSITIONS: Mapping[BatchStatus, frozenset[BatchStatus]] = {
    BatchStatus.INGESTING: frozenset({BatchStatus.PENDING}),
    BatchStatus.PENDING: frozenset(
        {BatchStatus.RUNNING, BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLING}
    ),
    BatchStatus.RUNNING: frozenset({BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLING}),
    BatchStatus.CANCELLING: frozenset({BatchStatus.CANCELLED}),
    BatchStatus.COMPLETED: frozenset(),
    BatchStatus.FAILED: frozenset(),
    BatchStatus.CANCELLED: frozenset(),
}

STREAM_TRANSITIONS: Mapping[StreamStatus, frozenset[StreamStatus]] = {
    StreamStatus.OPEN: frozenset({StreamStatus.CANCELLED, StreamStatus.ARCHIVED}),
    StreamStatus.CANCELLED: frozenset({StreamStatus.ARCHIVED}),
    StreamStatus.ARCHIVED: frozenset(),
}

OPENAI_BATCH_TRANSITIONS: Mapping[OpenAIBatchStatus, frozenset[OpenAIBatchStatus]] = {
    OpenAIBatchStatus.IN_PROGRESS: frozenset(
        {
            OpenAIBatchStatus.CANCELLING,
            OpenAIBatchStatus.COMPLETED,
            OpenAIBatchStatus.EXPIRED,
            OpenAIBatchStatus.FAILED,
        }
    ),
    OpenAIBatchStatus.CANCELLING: frozenset({OpenAIBatchStatus.CANCELLED}),
    OpenAIBatchStatus.COMPLETED: frozenset(),
    OpenAIBatchStatus.EXPIRED: frozenset(),
    OpenAIBatchStatus.FAILED: frozenset(),
    OpenAIBatchStatus.CANCELLED: frozenset(),
}


def sources[S: StrEnum](transitions: Mapping[S, frozenset[S]], target: S) -> tuple[S, ...]:
    """The states ``target`` may be reached from, in declaration order (a guard's ``IN (...)``)."""
    return tuple(state for state, targets in transitions.items() if target in targets)


def is_terminal[S: StrEnum](transitions: Mapping[S, frozenset[S]], state: S) -> bool:
    return not transitions[state]


def check_transition[S: StrEnum](transitions: Mapping[S, frozenset[S]], old: S, new: S, *, what: str) -> None:
    """Raise ``IllegalTransition`` unless ``old -> new`` is allowed."""
    if new not in transitions[old]:
        raise IllegalTransition(what, old, new)


class IllegalTransition(Conflict):
    """A state change the machine forbids, or a guarded UPDATE that matched no row because the
    object was no longer in a state the change starts from. Callers translate it into a clearer
    ``Conflict`` or treat it as "someone else got there first"; left alone it is a 409."""

    def __init__(self, what: str, old: str | None, new: str) -> None:
        self.what, self.old, self.new = what, old, new
        state = f"is {old}" if old is not None else "is not in a state that allows it"
        super().__init__(f"{what} {state}; it cannot become {new}")


ACTIVE_ITEM_STATUSES = tuple(s for s in ItemStatus if not is_terminal(ITEM_TRANSITIONS, s))
TERMINAL_ITEM_STATUSES = tuple(s for s in ItemStatus if is_terminal(ITEM_TRANSITIONS, s))
ACTIVE_BATCH_STATUSES = tuple(s for s in BatchStatus if not is_terminal(BATCH_TRANSITIONS, s))
TERMINAL_BATCH_STATUSES = tuple(s for s in BatchStatus if is_terminal(BATCH_TRANSITIONS, s))
# Batches whose queued items may be claimed (a cancelling batch is active but not runnable).
RUNNABLE_BATCH_STATUSES = (BatchStatus.PENDING, BatchStatus.RUNNING)

# The batch/stream counter column that holds the number of items in each status.
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


def batch_outcome(*, completed: int, failed: int, expired: int) -> tuple[BatchStatus, ErrorCode | str | None, str]:
    """How a batch with no queued or running item left ends: ``completed`` if anything completed;
    otherwise ``failed``, with an error code and a message saying why."""
    if completed > 0:
        return BatchStatus.COMPLETED, None, ""
    if expired and not failed:
        return BatchStatus.FAILED, ErrorCode.BATCH_EXPIRED, "the completion window ended before any request finished"
    message = f"no request completed: {failed} failed"
    if expired:
        message += f", {expired} expired"
    return BatchStatus.FAILED, "all_requests_failed", message + "; see error_json of each result row"
