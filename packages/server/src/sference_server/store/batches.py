"""The batch table: create, read, list, finish and cancel.

Every move of a batch to a terminal status queues its webhook deliveries in the same transaction
(store/webhooks.py ``enqueue``: one indexed read when the user has no endpoint)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from ..domain.outcome import ItemError
from ..domain.states import BATCH_TRANSITIONS, RUNNABLE_BATCH_STATUSES, BatchStatus, batch_outcome
from ..domain.webhooks import batch_event
from . import guards, webhooks
from .database import Tx
from .records import Batch
from .tables import batches


@dataclass(frozen=True)
class NewBatch:
    id: str
    user_id: str
    model: str
    window: str
    created_at: float
    deadline: float
    request_count: int
    status: BatchStatus = BatchStatus.PENDING
    error: ItemError | None = None  # a batch refused before it started (``failed``)
    retry_of: str | None = None


def insert_batch(tx: Tx, new: NewBatch) -> None:
    finished = new.status not in (BatchStatus.PENDING, BatchStatus.INGESTING)
    tx.execute(
        insert(batches),
        [
            {
                "id": new.id,
                "user_id": new.user_id,
                "model": new.model,
                "window": new.window,
                "status": new.status,
                "created_at": new.created_at,
                "updated_at": new.created_at,
                "deadline": new.deadline,
                "completed_at": new.created_at if finished else None,
                "request_count": new.request_count,
                "queued_count": 0 if finished else new.request_count,
                "error": new.error.to_json() if new.error else None,
                "retry_of": new.retry_of,
            }
        ],
    )
    if finished:
        event = webhooks.WebhookEvent(new.user_id, batch_event(new.status, expired=0), new.id)
        webhooks.enqueue(tx, [event], now=new.created_at)


def get_batch(tx: Tx, batch_id: str, *, user_id: str | None = None) -> Batch | None:
    """A batch that has been written whole (an ``ingesting`` one does not exist yet)."""
    query = select(batches).where(batches.c.id == batch_id, batches.c.status != BatchStatus.INGESTING)
    if user_id is not None:
        query = query.where(batches.c.user_id == user_id)
    row = tx.execute(query).first()
    return Batch.from_row(row) if row is not None else None


def list_batches(tx: Tx, *, user_id: str, limit: int, before: str | None = None) -> list[Batch]:
    """Newest first. ``before`` is a batch id cursor (ids are time-ordered)."""
    query = select(batches).where(batches.c.user_id == user_id, batches.c.status != BatchStatus.INGESTING)
    if before is not None:
        query = query.where(batches.c.id < before)
    return [Batch.from_row(r) for r in tx.execute(query.order_by(batches.c.id.desc()).limit(limit))]


def retry_chain(tx: Tx, batch_id: str) -> list[str]:
    """The ids of the batch and of those it retries, first the one that began it:
    ``[original, retry, retry of the retry, ..., batch_id]``."""
    chain = [batch_id]
    while (parent := tx.execute(select(batches.c.retry_of).where(batches.c.id == chain[-1])).scalar()) is not None:
        chain.append(parent)
    return chain[::-1]


def begin_cancel(tx: Tx, batch_id: str, *, now: float) -> None:
    """Mark the batch ``cancelling``: from this commit on none of its items is claimed. Raises
    ``IllegalTransition`` when the batch already finished (or is being cancelled)."""
    guards.move(
        tx, batches, batch_id, BatchStatus.CANCELLING, BATCH_TRANSITIONS, what="batch", cancelled_at=now, updated_at=now
    )


def mark_cancelled(tx: Tx, batch_id: str, *, now: float) -> None:
    """A cancelling batch whose items are all cancelled (or finished) becomes ``cancelled``."""
    guards.move(
        tx, batches, batch_id, BatchStatus.CANCELLED, BATCH_TRANSITIONS, what="batch", completed_at=now, updated_at=now
    )
    user_id = tx.execute(select(batches.c.user_id).where(batches.c.id == batch_id)).scalar_one()
    event = webhooks.WebhookEvent(user_id, batch_event(BatchStatus.CANCELLED, expired=0), batch_id)
    webhooks.enqueue(tx, [event], now=now)


def cancelling_batches(tx: Tx, *, limit: int) -> list[str]:
    """Batches whose cancel has not finished (interrupted, or handed over by the API)."""
    query = select(batches.c.id).where(batches.c.status == BatchStatus.CANCELLING).order_by(batches.c.id)
    return list(tx.execute(query.limit(limit)).scalars())


def mark_started(tx: Tx, batch_ids: Iterable[str], *, now: float) -> None:
    """Pending batches whose first item was claimed become ``running``."""
    for batch_id in sorted(set(batch_ids)):
        tx.execute(
            update(batches)
            .where(batches.c.id == batch_id, batches.c.status == BatchStatus.PENDING)
            .values(status=BatchStatus.RUNNING, started_at=now)
        )


def finish_batches_if_done(tx: Tx, batch_ids: Iterable[str], now: float) -> None:
    """Give each runnable batch with no queued or running item left its terminal status."""
    ids = sorted(set(batch_ids))
    if not ids:
        return
    done = tx.execute(
        select(batches).where(
            batches.c.id.in_(ids),
            batches.c.status.in_(RUNNABLE_BATCH_STATUSES),
            batches.c.queued_count == 0,
            batches.c.running_count == 0,
        )
    ).all()
    events: list[webhooks.WebhookEvent] = []
    for row in done:
        batch = Batch.from_row(row)
        status, code, message = batch_outcome(
            completed=batch.counts.completed_count,
            failed=batch.counts.failed_count,
            expired=batch.counts.expired_count,
        )
        error = ItemError(code, message).to_json() if code is not None else None
        guards.move(
            tx,
            batches,
            batch.id,
            status,
            BATCH_TRANSITIONS,
            what="batch",
            error=error,
            completed_at=now,
            updated_at=now,
        )
        events.append(
            webhooks.WebhookEvent(batch.user_id, batch_event(status, expired=batch.counts.expired_count), batch.id)
        )
    webhooks.enqueue(tx, events, now=now)
