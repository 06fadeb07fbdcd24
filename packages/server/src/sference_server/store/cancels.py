"""Cancelling without holding the writer: a batch chunk by chunk, and the stragglers a cancel can
race past.

A batch cancel (any size, up to a million rows) is: the batch row becomes ``cancelling`` in its
own transaction (from then on none of its items is claimed, store/queue.runnable), then its active
items are cancelled ``queue.CHUNK`` at a time, each chunk a transaction with its counters and
completion events, and the transaction of the last chunk marks the batch ``cancelled``. Between
chunks other writers (a worker's heartbeat, its results) get the lock, so none waits for more than
one chunk. Whoever holds a cancel may stop after a time budget; the sweep finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic, sleep

from sqlalchemy import select

from ..domain.outcome import BATCH_CANCELLED, STREAM_CANCELLED
from ..domain.states import ACTIVE_ITEM_STATUSES, BatchStatus, IllegalTransition, ItemStatus
from ..timeutil import now
from . import queue
from .batches import cancelling_batches, mark_cancelled
from .database import Database
from .tables import batches, streams


def cancel_batch_items(
    db: Database, batch_id: str, *, budget_seconds: float | None = None, on_chunk: Callable[[], None] = lambda: None
) -> bool:
    """Cancel a ``cancelling`` batch's active items chunk by chunk, then mark it ``cancelled``.
    Returns False when ``budget_seconds`` ran out first (the batch stays ``cancelling``);
    ``on_chunk`` runs after each chunk that cancelled something (new completion events)."""
    started = monotonic()
    scope = queue.Scope(batch_id=batch_id)
    cursor = None
    while True:
        try:
            with db.write() as tx:
                count, cursor = queue.cancel_chunk(
                    tx, scope, statuses=ACTIVE_ITEM_STATUSES, error=BATCH_CANCELLED, now=now(), after=cursor
                )
                if cursor is None:
                    mark_cancelled(tx, batch_id, now=now())
        except IllegalTransition:
            return True  # another process finished this cancel first
        if count:
            on_chunk()
        if cursor is None:
            return True
        if budget_seconds is not None and monotonic() - started >= budget_seconds:
            return False
        sleep(0.001)  # the writer lock is not fair: let a waiting heartbeat or result in first


def finish_cancels(db: Database, *, limit: int = 100, on_chunk: Callable[[], None] = lambda: None) -> int:
    """Finish cancels left half-done (an API process that handed over, a crash), and cancel queued
    items that a cancel raced past (an item put back in the queue by a retry or a lease reclaim
    just after its batch's or stream's cancel passed it). Returns how many items it cancelled."""
    with db.read() as tx:
        cancelling = cancelling_batches(tx, limit=limit)
        left_in_batches = list(
            tx.execute(
                select(batches.c.id).where(batches.c.status == BatchStatus.CANCELLED, batches.c.queued_count > 0)
            ).scalars()
        )
        left_in_streams = list(
            tx.execute(
                select(streams.c.id).where(streams.c.cancelled_at.is_not(None), streams.c.queued_count > 0)
            ).scalars()
        )
    for batch_id in cancelling:
        cancel_batch_items(db, batch_id, on_chunk=on_chunk)
    cancelled = 0
    stragglers = [(queue.Scope(batch_id=b), BATCH_CANCELLED) for b in left_in_batches]
    stragglers += [(queue.Scope(stream_id=s), STREAM_CANCELLED) for s in left_in_streams]
    for scope, error in stragglers:
        with db.write() as tx:
            cancelled += queue.cancel(tx, scope, statuses=(ItemStatus.QUEUED,), error=error, now=now())
    if cancelled:
        on_chunk()
    return cancelled
