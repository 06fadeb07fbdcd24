"""The queued-items limit counts a user's queued and running items from batch counters and an
index of the items outside batches (store/quotas.py): the same number as counting the rows, in
every state a batch passes through, without walking a big batch's rows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from sference_server.domain.states import BatchStatus, ItemStatus
from sference_server.ids import uuid7
from sference_server.store import batches as batch_store
from sference_server.store import queue
from sference_server.store.database import Database
from sference_server.store.items import NewItem, insert_items
from sference_server.store.quotas import active_item_count
from sference_server.store.tables import items
from sference_server.timeutil import now
from support.store import seed_batch, sqlite_plan, statements_run


def counted(db: Database, user_id: str) -> int:
    with db.read() as tx:
        return active_item_count(tx, user_id)


def rows_active(db: Database, user_id: str) -> int:
    """The same, the slow way: every queued or running row of the user."""
    with db.read() as tx:
        query = select(func.count()).where(
            items.c.user_id == user_id, items.c.status.in_((ItemStatus.QUEUED, ItemStatus.RUNNING))
        )
        return int(tx.execute(query).scalar_one())


def single(user_id: str) -> NewItem:
    return NewItem(id=uuid7(), user_id=user_id, model="m", body="{}", deadline=now() + 60, created_at=now())


def test_the_count_follows_the_rows(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    seed_batch(db, ann, 5)
    seed_batch(db, bob, 4)
    assert counted(db, ann) == rows_active(db, ann) == 5
    with db.write() as tx:
        claimed = queue.claim(tx, worker_id="w", models=["m"], limit=3, lease_seconds=60, now=now())
        insert_items(tx, [single(ann), single(ann)])
    assert counted(db, ann) == rows_active(db, ann) == 7
    finished = [queue.Outcome(c.id, ItemStatus.FAILED) for c in claimed]
    with db.write() as tx:
        queue.record_outcomes(tx, worker_id="w", outcomes=finished, now=now())
    assert counted(db, ann) == rows_active(db, ann)
    assert counted(db, bob) == rows_active(db, bob)
    assert counted(db, ann) + counted(db, bob) == 9 + 2 - 3


def test_a_batch_being_written_counts_whole(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    ann, _ = make_user("ann")
    batch_id = uuid7()
    with db.write() as tx:
        new = batch_store.NewBatch(
            id=batch_id,
            user_id=ann,
            model="m",
            window="24h",
            created_at=now(),
            deadline=now() + 3600,
            request_count=10,
            status=BatchStatus.INGESTING,
        )
        batch_store.insert_batch(tx, new)
        insert_items(tx, [NewItem(**{**single(ann).__dict__, "batch_id": batch_id, "row_index": i}) for i in range(4)])
    assert counted(db, ann) == 10  # all it will hold, not the 4 rows written so far


def test_the_count_reads_indexes_not_the_queue(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    """On SQLite, the plan of each statement the count runs: a search of a partial index (whose
    condition the statement states word for word), never a walk of the user's rows."""
    if not db.is_sqlite:
        pytest.skip("the plan is SQLite's")
    ann, _ = make_user("ann")
    seed_batch(db, ann, 3)
    with statements_run(db) as statements:
        assert counted(db, ann) == 3
    counts = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(counts) == 2, statements
    plans = [sqlite_plan(db, sql, params) for sql, params in counts]
    assert "INDEX ix_items_user_active (user_id=?)" in plans[0], plans
    assert "INDEX ix_batches_user_unfinished (user_id=?)" in plans[1], plans
