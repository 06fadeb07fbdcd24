"""What completion estimates read (domain/estimates.py does the arithmetic; services/estimates.py
caches it): the requests that completed recently, and the queued work ahead of a place in the
claim order (store/queue.py ``claim``).

Every read goes through an index and costs what it returns, not the size of the items table:

- recent completions walk the primary key of ``completion_events`` from a UUIDv7 floor (event ids
  grow with time, store/events.py), newest first and at most ``limit`` of them;
- queued work is counted on ``ix_items_claim`` (model, priority, deadline) and ``ix_items_fair``
  (model, priority, fair key), running work on the running items' partial index.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from ..domain.estimates import Finished
from ..domain.states import ItemStatus
from ..ids import uuid7_floor
from .database import Tx
from .fairness import FairKeys
from .records import stored_priority
from .tables import completion_events, items


@dataclass(frozen=True)
class Place:
    """Where the last queued request of something (a batch, a stream) stands in the claim order
    of its model: its priority, its deadline and its fair key."""

    model: str
    priority: int
    deadline: float
    fair_key: float


def recent_finished(tx: Tx, *, since: float, limit: int) -> list[Finished]:
    """Requests that completed since ``since`` (the newest ``limit`` terminal events looked at)."""
    recent = (
        select(completion_events.c.item_id, completion_events.c.status)
        .where(completion_events.c.id >= uuid7_floor(since))
        .order_by(completion_events.c.id.desc())
        .limit(limit)
        .subquery()
    )
    query = (
        select(items.c.model, items.c.started_at, items.c.completed_at, items.c.completion_tokens)
        .join(recent, items.c.id == recent.c.item_id)
        .where(
            recent.c.status == ItemStatus.COMPLETED,
            items.c.started_at.is_not(None),
            items.c.completed_at.is_not(None),
        )
    )
    return [
        Finished(row.model, row.started_at, row.completed_at, row.completion_tokens or 0) for row in tx.execute(query)
    ]


def running(tx: Tx, model: str) -> int:
    """Requests of ``model`` running now (claimed and leased)."""
    query = select(func.count()).where(items.c.status == ItemStatus.RUNNING, items.c.model == model)
    return int(tx.execute(query).scalar_one())


def queued_ahead(tx: Tx, place: Place, *, now: float, urgent_seconds: float) -> int:
    """Queued requests claimed before or with the one at ``place`` (itself included when queued):
    all of a higher priority; of the same one, those with an urgent deadline (less than
    ``urgent_seconds`` away) that come first, and those with a fair key up to the place's, as the
    claim orders them. Work submitted later that goes ahead is not foreseen."""
    queued = (items.c.status == ItemStatus.QUEUED, items.c.model == place.model)
    higher = select(func.count()).where(*queued, items.c.priority < place.priority)
    same = (*queued, items.c.priority == place.priority)
    urgent_before = now + urgent_seconds
    if place.deadline < urgent_before:  # claimed earliest deadline first, ahead of the fair order
        counts = [select(func.count()).where(*same, items.c.deadline <= place.deadline)]
    else:
        counts = [
            select(func.count()).where(*same, items.c.fair_key <= place.fair_key),
            # ``fair_key + 0``: no index on the key, so SQLite seeks the few urgent rows on
            # ix_items_claim instead of walking every key behind the place on ix_items_fair.
            select(func.count()).where(*same, items.c.deadline < urgent_before, items.c.fair_key + 0 > place.fair_key),
        ]
    return sum(int(tx.execute(count).scalar_one()) for count in [higher, *counts])


def batch_place(tx: Tx, batch_id: str) -> Place | None:
    """The place of a batch's last queued row (rows are queued in input order, keys ascending),
    or None when none is queued."""
    row = tx.execute(
        select(items.c.model, items.c.priority, items.c.deadline, items.c.fair_key)
        .where(items.c.batch_id == batch_id, items.c.status == ItemStatus.QUEUED)
        .order_by(items.c.row_index.desc())
        .limit(1)
    ).first()
    return Place(row.model, stored_priority(row.priority), row.deadline, row.fair_key) if row is not None else None


@dataclass(frozen=True)
class Unfinished:
    """A stream's newest request that has not finished: where it stands, and whether it runs."""

    place: Place
    status: ItemStatus


def stream_newest_unfinished(tx: Tx, *, user_id: str, stream_id: str) -> Unfinished | None:
    """The newest queued or running request of a stream (newest first on ``ix_items_responses``:
    a stream's unfinished requests are mostly its newest)."""
    row = tx.execute(
        select(items.c.model, items.c.priority, items.c.deadline, items.c.fair_key, items.c.status)
        .where(
            items.c.user_id == user_id,
            items.c.stream_id == stream_id,
            items.c.batch_id.is_(None),
            items.c.status.in_((ItemStatus.QUEUED, ItemStatus.RUNNING)),
        )
        .order_by(items.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Unfinished(Place(row.model, row.priority, row.deadline, row.fair_key), ItemStatus(row.status))


def new_place(tx: Tx, *, user_id: str, model: str, priority: int, deadline: float, window: float, count: int) -> Place:
    """Where the last of ``count`` requests a user would queue now would stand (read only: the
    keys are those store/fairness.py would hand out; nothing is recorded)."""
    first = FairKeys(tx).next(user_id, model, priority, window)
    return Place(model, priority, deadline, first + count - 1)
