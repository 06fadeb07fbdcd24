"""The queue under faults and races: leases renewed per item on the database's clock, claims
that never take work of a batch or stream being cancelled, cancels of any size in chunks, and
the sweep that finishes what a cancel raced past."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from sqlalchemy import select, update

from sference_server.domain.outcome import ItemError
from sference_server.domain.states import ItemStatus
from sference_server.render.sference import batch as render_batch
from sference_server.store import queue
from sference_server.store.batches import begin_cancel, get_batch
from sference_server.store.cancels import cancel_batch_items, finish_cancels
from sference_server.store.database import Database
from sference_server.store.sweep import sweep
from sference_server.store.tables import batches, items
from sference_server.timeutil import now
from support.store import assert_counters_match, batch_row, events, item_rows, seed_batch

CANCELLED = ItemError("batch_cancelled", "cancelled by the test")


def claim(db: Database, worker: str = "w1", limit: int = 100, lease: float = 60.0) -> list[queue.ClaimedItem]:
    with db.write() as conn:
        return queue.claim(conn, worker_id=worker, models=["m"], limit=limit, lease_seconds=lease, now=now())


def lease_expiry(db: Database, item_id: str) -> float:
    with db.read() as tx:
        return float(tx.execute(select(items.c.lease_expires_at).where(items.c.id == item_id)).scalar_one())


def test_a_restarted_worker_renews_only_the_items_it_runs(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """Same worker id, new process: the predecessor's items are not renewed, so they are reclaimed."""
    user, _ = make_user("ann")
    seed_batch(db, user, 2)
    dead, alive = claim(db, worker="host:1", lease=0.5)
    with db.write() as conn:
        held = queue.extend_leases(conn, worker_id="host:1", item_ids=[alive.id], lease_seconds=60)
    assert held == {alive.id}
    threading.Event().wait(0.6)
    with db.write() as conn:
        assert queue.reclaim_expired_leases(conn, max_attempts=3, now=now()) == (1, 0)
    statuses = {r.id: r.status for r in item_rows(db, _batch_of(db, dead.id))}
    assert statuses == {dead.id: "queued", alive.id: "running"}


def _batch_of(db: Database, item_id: str) -> str:
    with db.read() as tx:
        return str(tx.execute(select(items.c.batch_id).where(items.c.id == item_id)).scalar_one())


def test_leases_are_written_and_judged_on_the_database_clock(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A host whose clock is an hour off can neither steal live leases nor keep dead ones."""
    user, _ = make_user("ann")
    seed_batch(db, user, 1)
    skewed = now() + 3600
    with db.write() as conn:
        (item,) = queue.claim(conn, worker_id="w1", models=["m"], limit=1, lease_seconds=60, now=skewed - 3600)
    assert abs(lease_expiry(db, item.id) - (now() + 60)) < 5
    with db.write() as conn:  # a sweeper whose host clock runs an hour ahead
        assert queue.reclaim_expired_leases(conn, max_attempts=3, now=skewed) == (0, 0)


def test_nothing_of_a_cancelling_batch_or_a_cancelled_stream_is_claimed(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 3)
    with db.write() as conn:
        begin_cancel(conn, batch_id, now=now())
    assert claim(db) == []
    assert render_batch(get_batch_row(db, batch_id), None)["status"] == "pending"  # not finished yet


def get_batch_row(db: Database, batch_id: str):  # type: ignore[no-untyped-def]
    with db.read() as tx:
        return get_batch(tx, batch_id)


def test_an_item_a_cancel_raced_past_is_never_run_and_the_sweep_cancels_it(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """The state a cancel racing a transient retry leaves on PostgreSQL: the batch cancelled, one
    of its items back in the queue. Made directly here; the threaded race is the next test."""
    user, _ = make_user("ann")
    batch_id, ids = seed_batch(db, user, 3)
    (first,) = claim(db, limit=1)
    with db.write() as conn:
        begin_cancel(conn, batch_id, now=now())
        for item_id in ids[1:]:  # the cancel's chunk, which read ``first`` as running ...
            queue.cancel(conn, queue.Scope(item_id=item_id), statuses=(ItemStatus.QUEUED,), error=CANCELLED, now=now())
    retry = queue.Outcome(first.id, ItemStatus.QUEUED, error=ItemError("engine_error", "busy"))
    with db.write() as conn:  # ... while the worker put it back in the queue (a transient error)
        assert queue.record_outcomes(conn, worker_id="w1", outcomes=[retry], now=now()) == {first.id}
    with db.write() as conn:  # and the cancel's last chunk, which found nothing running, ends it
        conn.execute(update(batches).where(batches.c.id == batch_id).values(status="cancelled"))
    assert claim(db) == []
    assert finish_cancels(db) == 1
    assert {r.status for r in item_rows(db, batch_id)} == {"cancelled"}
    assert batch_row(db, batch_id).status == "cancelled"
    assert_counters_match(db, batch_id)


def test_cancels_racing_retries_and_claims_leave_nothing_runnable(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """Real threads: a worker hands items back (a transient error) and claims again while the
    batch is cancelled. Afterwards, and after one sweep, nothing of the batch is queued or
    claimable, and the counters add up."""
    user, _ = make_user("ann")
    for _ in range(5):
        batch_id = _race_a_cancel_against_retries(db, user)
        sweep(db, max_attempts=3)
        assert claim(db) == []
        assert not [r for r in item_rows(db, batch_id) if r.status == "queued"]
        assert batch_row(db, batch_id).status == "cancelled"
        assert_counters_match(db, batch_id)
        with db.write() as conn:  # let the items still running end, so the next round starts clean
            conn.execute(update(items).where(items.c.status == "running").values(status="cancelled"))


def _race_a_cancel_against_retries(db: Database, user: str) -> str:
    batch_id, _ = seed_batch(db, user, 40)
    claimed = claim(db, limit=40)
    start = threading.Barrier(2)

    def retry_and_reclaim() -> None:
        start.wait()
        for item in claimed:
            outcome = queue.Outcome(item.id, ItemStatus.QUEUED, error=ItemError("engine_error", "busy"))
            with db.write() as conn:
                queue.record_outcomes(conn, worker_id="w1", outcomes=[outcome], now=now())
            claim(db, limit=1)

    def cancel() -> None:
        start.wait()
        with db.write() as conn:
            begin_cancel(conn, batch_id, now=now())
        cancel_batch_items(db, batch_id)

    threads = [threading.Thread(target=retry_and_reclaim), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return batch_id


def test_a_big_cancel_runs_in_chunks_and_the_sweep_finishes_it(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    n = 2 * queue.CHUNK + 7
    batch_id, ids = seed_batch(db, user, n)
    with db.write() as conn:
        begin_cancel(conn, batch_id, now=now())
    assert not cancel_batch_items(db, batch_id, budget_seconds=0)  # one chunk, then hands over
    assert batch_row(db, batch_id).cancelled_count == queue.CHUNK
    assert batch_row(db, batch_id).status == "cancelling"
    assert_counters_match(db, batch_id)
    report = sweep(db, max_attempts=3)
    assert report.cancelled == 0  # finished as a cancelling batch, counted by its events
    assert batch_row(db, batch_id).status == "cancelled"
    assert {r.status for r in item_rows(db, batch_id)} == {"cancelled"}
    assert sorted(e.item_id for e in events(db)) == sorted(ids)  # one event per item, none twice
    assert_counters_match(db, batch_id)


def test_overdue_items_expire_without_any_worker(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 2, model="a-model-nobody-serves", deadline=now() - 1)
    assert sweep(db, max_attempts=3).expired == 2
    assert batch_row(db, batch_id).status == "failed"


def test_a_small_batch_is_not_starved_by_another_users_huge_one(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """Same window, the huge batch first: the small one is interleaved at the head of the queue."""
    big_user, _ = make_user("big")
    small_user, _ = make_user("small")
    big, _ = seed_batch(db, big_user, 500)
    claim(db, limit=50)  # the big batch is under way
    small, small_ids = seed_batch(db, small_user, 10)
    first_twenty = claim(db, limit=20)
    assert sorted(c.id for c in first_twenty if c.batch_id == small) == sorted(small_ids)
    assert batch_row(db, big).queued_count == 500 - 50 - 10


def test_users_share_claims_equally_and_the_share_restarts_level(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    seed_batch(db, ann, 100)
    seed_batch(db, bob, 100)
    owners = Counter(_owner(db, c.id) for c in claim(db, limit=40))
    assert owners == {ann: 20, bob: 20}
    claim(db, limit=200)  # everything runs: the queue is empty
    seed_batch(db, bob, 10)  # bob's old tail is not held against ann, nor ann's against bob
    seed_batch(db, ann, 10)
    owners = Counter(_owner(db, c.id) for c in claim(db, limit=10))
    assert owners == {ann: 5, bob: 5}


def _owner(db: Database, item_id: str) -> str:
    with db.read() as tx:
        return str(tx.execute(select(items.c.user_id).where(items.c.id == item_id)).scalar_one())


def test_a_near_deadline_goes_ahead_of_the_fair_order(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    seed_batch(db, ann, 5)
    _, hurried = seed_batch(db, bob, 2, deadline=now() + 60)
    first = claim(db, limit=2)
    assert sorted(c.id for c in first) == sorted(hurried)
