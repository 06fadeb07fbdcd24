"""What is queued and running now, for monitoring (``services/metrics.py``), at a cost that does
not grow with a big batch: a batch's share comes from its counters (the rows of a million-row
batch are never walked), the items outside batches (stream items, responses) from the partial
index of active items, as the queued-items limit counts them (store/quotas.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, func, select, text

from ..domain.states import BatchStatus, ItemStatus, Priority
from .database import Tx
from .tables import ACTIVE_OUTSIDE_BATCHES, UNFINISHED_BATCH, batches, items


@dataclass(frozen=True, slots=True)
class QueueDepth:
    model: str
    priority: int
    status: ItemStatus  # queued or running
    count: int
    oldest_created_at: float | None  # when the oldest queued request was submitted; None for running


def queue_depths(conn: Tx) -> list[QueueDepth]:
    """Queued and running requests by model and priority. A batch still being written is not
    counted (its rows are not runnable until it is whole); its rows are all of the queued
    priority, and a batch's oldest queued request is as old as the batch."""
    counts: dict[tuple[str, int, ItemStatus], int] = defaultdict(int)
    oldest: dict[tuple[str, int, ItemStatus], float] = {}

    def add(key: tuple[str, int, ItemStatus], count: int, created_at: float | None) -> None:
        if count:
            counts[key] += count
        if count and created_at is not None and key[2] == ItemStatus.QUEUED:
            oldest[key] = min(oldest.get(key, created_at), created_at)

    outside = conn.execute(
        select(items.c.model, items.c.priority, items.c.status, func.count(), func.min(items.c.created_at))
        .where(text(ACTIVE_OUTSIDE_BATCHES))
        .group_by(items.c.model, items.c.priority, items.c.status)
    )
    for model, priority, status, count, created_at in outside:
        add((model, priority, ItemStatus(status)), count, created_at)
    in_batches = conn.execute(
        select(
            batches.c.model,
            func.sum(batches.c.queued_count),
            func.sum(batches.c.running_count),
            func.min(case((batches.c.queued_count > 0, batches.c.created_at))),
        )
        .where(text(UNFINISHED_BATCH), batches.c.status != BatchStatus.INGESTING)
        .group_by(batches.c.model)
    )
    for model, queued, running, created_at in in_batches:
        add((model, Priority.QUEUED, ItemStatus.QUEUED), int(queued or 0), created_at)
        add((model, Priority.QUEUED, ItemStatus.RUNNING), int(running or 0), None)
    return [QueueDepth(*key, count, oldest.get(key)) for key, count in sorted(counts.items())]
