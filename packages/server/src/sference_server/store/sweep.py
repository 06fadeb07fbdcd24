"""The housekeeping every process runs (workers, and the API so that nothing depends on a worker
serving a model): reclaim leases of vanished workers, expire overdue items, finish cancels, forget
day-old idempotency keys, delete batches whose ingest was abandoned, release the rows of batches
whose release a crash cut short."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..timeutil import now
from . import ingest, queue
from .cancels import finish_cancels
from .database import Database
from .idempotency import forget_expired


@dataclass(frozen=True)
class SweepReport:
    requeued: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    # The items failed (worker lost) or expired here, by (model, status, error code): committed.
    ended: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.expired or self.cancelled)

    def __str__(self) -> str:
        return (
            f"{self.requeued} requeued, {self.failed} failed (worker lost), {self.expired} expired, "
            f"{self.cancelled} cancelled"
        )


def sweep(db: Database, *, max_attempts: int, on_events: Callable[[], None] = lambda: None) -> SweepReport:
    """One pass, in transactions of at most ``queue.CHUNK`` items each. ``on_events`` runs when
    a cancel chunk appended completion events (the caller also announces after a non-empty
    report)."""
    requeued = failed = expired = 0
    ended: Counter[tuple[str, str, str]] = Counter()
    while True:
        reclaimed: Counter[tuple[str, str, str]] = Counter()
        with db.write() as conn:
            back, lost = queue.reclaim_expired_leases(conn, max_attempts=max_attempts, now=now(), ended=reclaimed)
        ended.update(reclaimed)  # once committed
        gone: Counter[tuple[str, str, str]] = Counter()
        with db.write() as conn:
            overdue = queue.expire_overdue(conn, now=now(), ended=gone)
        ended.update(gone)
        requeued, failed, expired = requeued + back, failed + lost, expired + overdue
        if max(back + lost, overdue) < queue.CHUNK:
            break
    with db.write() as conn:
        forget_expired(conn, now=now())  # idempotency keys older than a day
        abandoned = ingest.abandoned(conn, now=now())
        half_released = ingest.half_released(conn)
    for batch_id in abandoned:  # the process writing it died
        ingest.discard(db, batch_id)
    for batch_id in half_released:  # the process releasing it died, or is at it (they take turns)
        ingest.release(db, batch_id)
    return SweepReport(requeued, failed, expired, finish_cancels(db, on_chunk=on_events), ended)
