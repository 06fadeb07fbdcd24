"""Fair share between users within one priority class: start-time fair queuing.

Every queued item carries a fair key, and workers claim the lowest key first (after the items
whose deadline is near: queue.claim). A user's new items take the keys after the user's last
one, but never start before the key at the head of the queue. So a user who queued a million
requests holds keys far ahead, and another user's ten requests, submitted later, start at the
head and are interleaved with the next ten of the million: every user with queued work gets an
equal share of the claims, whatever the size of their backlog; a user with nothing queued
catches up with nobody (their old tail is behind the head).

A user's work of each window (a 24h batch, a 1h stream) is its own flow with its own tail, so a
user's 1h stream request is not queued behind the same user's 24h batch: it starts at the head
too (and, with the earlier deadline, goes first among equal keys). Keys are per model and
priority (each is its own queue). When the queue of a model is empty,
the head is the highest tail handed out, so that a user who used much in the past starts level
with everyone else. Concurrent submissions of one user may share keys; that only blurs the
interleaving a little.
"""

from __future__ import annotations

from sqlalchemy import Executable, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.states import ItemStatus
from .database import Tx
from .tables import fair_tails, items

Group = tuple[str, str, int, int]  # user id, model, priority, window (seconds)


class FairKeys:
    """Hands out fair keys to the items one transaction inserts, then records the tails."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._next: dict[Group, float] = {}

    def next(self, user_id: str, model: str, priority: int, window: float) -> float:
        group = (user_id, model, int(priority), round(window))
        key = self._next.get(group)
        if key is None:
            key = self._start(group)
        self._next[group] = key + 1
        return key

    def save(self) -> None:
        """Record where each user's next items go (in key order of the groups: one lock order)."""
        for (user_id, model, priority, window), tail in sorted(self._next.items()):
            values = {"user_id": user_id, "model": model, "priority": priority, "window": window, "tail": tail}
            self.tx.execute(self._upsert(values))

    def _upsert(self, values: dict[str, object]) -> Executable:
        """Insert a tail, or raise the one there to it."""
        keys = ["user_id", "model", "priority", "window"]
        if self.tx.dialect.name == "postgresql":
            pg = postgresql.insert(fair_tails).values(**values)
            return pg.on_conflict_do_update(
                index_elements=keys, set_={"tail": func.greatest(fair_tails.c.tail, pg.excluded.tail)}
            )
        lite = sqlite.insert(fair_tails).values(**values)
        return lite.on_conflict_do_update(
            index_elements=keys, set_={"tail": func.max(fair_tails.c.tail, lite.excluded.tail)}
        )

    def _start(self, group: Group) -> float:
        user_id, model, priority, window = group
        head = self.tx.execute(
            select(func.min(items.c.fair_key)).where(
                items.c.status == ItemStatus.QUEUED, items.c.model == model, items.c.priority == priority
            )
        ).scalar()
        if head is None:  # nothing queued: everyone starts level, past the highest tail
            head = self.tx.execute(
                select(func.max(fair_tails.c.tail)).where(
                    fair_tails.c.model == model, fair_tails.c.priority == priority
                )
            ).scalar()
        tail = self.tx.execute(
            select(fair_tails.c.tail).where(
                fair_tails.c.user_id == user_id,
                fair_tails.c.model == model,
                fair_tails.c.priority == priority,
                fair_tails.c.window == window,
            )
        ).scalar()
        return max(float(head or 0.0), float(tail or 0.0))
