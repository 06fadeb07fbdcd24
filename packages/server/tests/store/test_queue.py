from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from sference_server.domain.outcome import BATCH_CANCELLED, ChatOutput, ItemError, Timings, Usage
from sference_server.domain.states import ACTIVE_ITEM_STATUSES, ItemStatus
from sference_server.ids import uuid7
from sference_server.store import queue
from sference_server.store.batches import begin_cancel, get_batch
from sference_server.store.cancels import cancel_batch_items
from sference_server.store.database import Database
from sference_server.store.items import NewItem, insert_items
from sference_server.store.quotas import lock_user_limits
from sference_server.store.streams import count_new_item, get_stream, insert_stream
from sference_server.timeutil import now
from support.store import (
    assert_counters_match,
    batch_row,
    events,
    item_rows,
    seed_batch,
    sqlite_plan,
    statements_run,
    waiting_on_a_lock,
)


def claim(
    db: Database, worker: str = "w1", limit: int = 100, model: str = "m", lease: float = 60.0, at: float | None = None
) -> list[queue.ClaimedItem]:
    with db.write() as conn:
        return queue.claim(
            conn, worker_id=worker, models=[model], limit=limit, lease_seconds=lease, now=now() if at is None else at
        )


def record(db: Database, worker: str, *outcomes: queue.Outcome) -> set[str]:
    with db.write() as conn:
        return queue.record_outcomes(conn, worker_id=worker, outcomes=list(outcomes), now=now())


def done(item_id: str, tokens: tuple[int, ...] = (3, 2)) -> queue.Outcome:
    """A completion; ``tokens``: prompt, completion[, cached prompt[, reasoning]]."""
    output = ChatOutput(f"ok {item_id}", "stop", Usage(*tokens), Timings(now(), now()))
    return queue.Outcome(item_id, ItemStatus.COMPLETED, output=output)


def test_claim_takes_the_earliest_deadline_first_and_leases(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    late, _ = seed_batch(db, user, 2, deadline=now() + 7200)
    early, early_ids = seed_batch(db, user, 2, deadline=now() + 600)
    seed_batch(db, user, 2, model="other")
    got = claim(db, limit=2)
    assert [c.id for c in got] == early_ids
    assert all(c.attempts == 1 for c in got)
    assert batch_row(db, early).status == "running"
    assert batch_row(db, late).status == "pending"
    assert_counters_match(db, early)


def test_each_pick_reads_its_index_in_order(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    """On SQLite, the claim's picks cost the same however many items are queued: the urgent one
    seeks each priority's deadline range in ``ix_items_claim`` (it walked every queued item when
    the priority was left open), the fair one reads ``ix_items_fair`` in key order (it sorted the
    whole queue when the priorities were named)."""
    if not db.is_sqlite:
        pytest.skip("the plan is SQLite's")
    user, _ = make_user("ann")
    seed_batch(db, user, 3)
    with statements_run(db) as statements:
        claim(db, limit=5)
    urgent, fair = (statement for statement in statements if statement[0].startswith("UPDATE items"))
    assert "deadline <" in urgent[0] and "deadline <" not in fair[0]
    assert "INDEX ix_items_claim (model=? AND priority=? AND deadline>? AND deadline<?)" in sqlite_plan(db, *urgent)
    assert "INDEX ix_items_fair (model=? AND priority<?)" in sqlite_plan(db, *fair)


def test_claim_skips_items_backing_off_and_overdue(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user, _ = make_user("ann")
    _, ids = seed_batch(db, user, 1)
    (item,) = claim(db)
    retry = queue.Outcome(item.id, ItemStatus.QUEUED, error=ItemError("x", "try again"), not_before=now() + 30)
    assert record(db, "w1", retry) == {item.id}
    assert claim(db) == []
    assert [c.id for c in claim(db, at=now() + 31)] == ids
    seed_batch(db, user, 1, deadline=now() - 1)
    assert claim(db) == []


def test_completion_is_written_once_and_only_by_the_lease_holder(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    batch_id, ids = seed_batch(db, user, 2)
    a, b = claim(db)
    assert record(db, "intruder", done(a.id)) == set()
    assert record(db, "w1", done(a.id)) == {a.id}
    assert record(db, "w1", done(a.id)) == set()  # a second completion is refused
    batch = batch_row(db, batch_id)
    assert (batch.completed_count, batch.running_count, batch.status) == (1, 1, "running")
    assert record(db, "w1", done(b.id, tokens=(10, 20))) == {b.id}
    batch = batch_row(db, batch_id)
    assert batch.status == "completed" and batch.completed_at is not None
    assert (batch.prompt_tokens, batch.completion_tokens) == (13, 22)
    assert [e.item_id for e in events(db)] == ids
    assert_counters_match(db, batch_id)


def test_token_totals_count_cached_and_reasoning_tokens_as_outcomes_are_recorded(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 4)
    with db.read() as conn:
        assert (fresh := get_batch(conn, batch_id)) is not None and fresh.counts.cached_share == 0.0
    a, b, c, d = claim(db)
    assert record(db, "w1", done(a.id, (100, 10, 80, 4)), done(b.id, (50, 5))) == {a.id, b.id}  # one flush
    retry = queue.Outcome(c.id, ItemStatus.QUEUED, error=ItemError("x", "try again"))
    record(db, "w1", retry, queue.Outcome(d.id, ItemStatus.FAILED, error=ItemError("invalid_request", "bad")))
    assert record(db, "intruder", done(c.id, (9, 9, 9, 9))) == set()
    with db.read() as conn:
        batch = get_batch(conn, batch_id)
    assert batch is not None
    counts = batch.counts
    assert (counts.prompt_tokens, counts.cached_tokens, counts.cached_share) == (150, 80, 0.5333)
    assert (counts.completion_tokens, counts.reasoning_tokens) == (15, 4)
    (again,) = claim(db)
    record(db, "w1", done(again.id, (50, 1, 40)))
    with db.read() as conn:
        batch = get_batch(conn, batch_id)
    assert batch is not None and batch.status == "completed"
    assert (batch.counts.prompt_tokens, batch.counts.cached_tokens, batch.counts.cached_share) == (200, 120, 0.6)
    stored = [json.loads(r.result)["usage"] for r in item_rows(db, batch_id) if r.result]
    assert batch.counts.cached_tokens == sum(u["cached_tokens"] for u in stored)
    assert batch.counts.reasoning_tokens == sum(u["reasoning_tokens"] for u in stored)
    assert_counters_match(db, batch_id)


def test_stream_token_totals_count_cached_tokens(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user, _ = make_user("ann")
    stream_id, item_id = uuid7(), uuid7()
    with db.write() as conn:
        insert_stream(conn, stream_id=stream_id, user_id=user, name="s", window="24h", now=now())
        new = NewItem(item_id, user, "m", "{}", deadline=now() + 60, created_at=now(), stream_id=stream_id)
        insert_items(conn, [new])
        count_new_item(conn, stream_id, now=now())
    (item,) = claim(db)
    record(db, "w1", done(item.id, (30, 3, 20, 2)))
    with db.read() as conn:
        stream = get_stream(conn, stream_id, user_id=user)
    assert stream is not None
    assert (stream.counts.prompt_tokens, stream.counts.cached_tokens, stream.counts.reasoning_tokens) == (30, 20, 2)


def test_every_item_failing_fails_the_batch_with_a_reason(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 2)
    failures = [queue.Outcome(c.id, ItemStatus.FAILED, error=ItemError("invalid_request", "bad")) for c in claim(db)]
    record(db, "w1", *failures)
    batch = batch_row(db, batch_id)
    assert batch.status == "failed"
    assert json.loads(batch.error)["code"] == "all_requests_failed"
    assert "2 failed" in json.loads(batch.error)["message"]
    assert_counters_match(db, batch_id)


def test_lost_leases_are_reclaimed_then_given_up(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user, _ = make_user("ann")
    batch_id, (item_id,) = seed_batch(db, user, 1)
    for attempt in (1, 2):
        (item,) = claim(db, worker=f"w{attempt}", lease=0.3)
        assert item.attempts == attempt
        with db.write() as conn:
            assert queue.reclaim_expired_leases(conn, max_attempts=2, now=now()) == (0, 0)  # lease still valid
        time.sleep(0.4)  # leases run on the database's clock: let it pass
        with db.write() as conn:
            requeued, failed = queue.reclaim_expired_leases(conn, max_attempts=2, now=now())
        assert (requeued, failed) == ((1, 0) if attempt == 1 else (0, 1))
    (row,) = item_rows(db, batch_id)
    assert row.status == "failed" and json.loads(row.error)["code"] == "worker_lost"
    assert record(db, "w2", done(item_id)) == set()  # the vanished worker's late result is refused
    assert batch_row(db, batch_id).status == "failed"
    assert_counters_match(db, batch_id)


def test_a_graceful_release_does_not_count_as_an_attempt(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    seed_batch(db, user, 1)
    (item,) = claim(db)
    record(db, "w1", queue.Outcome(item.id, ItemStatus.QUEUED, refund_attempt=True))
    (again,) = claim(db)
    assert again.attempts == 1


def test_overdue_items_expire_and_the_batch_keeps_partial_results(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 3, deadline=now() + 60)
    first = claim(db, limit=1)[0]
    record(db, "w1", done(first.id))
    with db.write() as conn:
        assert queue.expire_overdue(conn, now=now() + 61) == 2
    rows = item_rows(db, batch_id)
    assert [r.status for r in rows] == ["completed", "expired", "expired"]
    assert json.loads(rows[1].error)["code"] == "batch_expired"
    assert batch_row(db, batch_id).status == "completed"
    assert_counters_match(db, batch_id)


def test_a_batch_with_nothing_done_in_time_fails_as_expired(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 2, deadline=now() + 60)
    with db.write() as conn:
        queue.expire_overdue(conn, now=now() + 61)
    batch = batch_row(db, batch_id)
    assert batch.status == "failed" and json.loads(batch.error)["code"] == "batch_expired"


def test_cancel_stops_queued_and_running_items(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user, _ = make_user("ann")
    batch_id, ids = seed_batch(db, user, 3)
    running = claim(db, limit=1)[0]
    with db.write() as conn:
        begin_cancel(conn, batch_id, now=now())
    assert cancel_batch_items(db, batch_id)
    assert sorted(r.id for r in item_rows(db, batch_id) if r.status == "cancelled") == sorted(ids)
    assert batch_row(db, batch_id).status == "cancelled"
    assert record(db, "w1", done(running.id)) == set()
    with db.write() as conn:
        assert queue.extend_leases(conn, worker_id="w1", item_ids=[running.id], lease_seconds=60) == set()
    assert_counters_match(db, batch_id)


def test_cancelling_an_item_a_worker_is_claiming_waits_for_the_claim_and_cancels_it(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A cancel that read the item as queued while a claim (not yet committed) leased it still
    cancels it: the cancel locks the rows it reads, so it waits for the claim and then sees the
    item running (it used to update nothing and answer with the running item)."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the cancel runs before or after the claim, whole")
    user, _ = make_user("ann")
    batch_id, (item_id,) = seed_batch(db, user, 1)
    outcome: list[object] = []

    def cancel_it() -> None:
        try:
            with db.write() as tx:
                outcome.append(
                    queue.cancel(
                        tx,
                        queue.Scope(item_id=item_id),
                        statuses=ACTIVE_ITEM_STATUSES,
                        error=BATCH_CANCELLED,
                        now=now(),
                    )
                )
        except Exception as exc:
            outcome.append(exc)

    canceller = threading.Thread(target=cancel_it)
    with db.write() as claimer:
        (claimed,) = queue.claim(claimer, worker_id="w1", models=["m"], limit=1, lease_seconds=60, now=now())
        canceller.start()
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock(db):
            assert time.monotonic() < deadline and canceller.is_alive(), outcome
            time.sleep(0.02)
    canceller.join(10)
    assert outcome == [1]
    (row,) = item_rows(db, batch_id)
    assert row.status == "cancelled" and row.lease_owner is None
    assert record(db, "w1", done(claimed.id)) == set()


def test_a_submission_holding_its_user_does_not_hold_up_a_worker_recording_that_users_results(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A submission holds its user's row while it checks the user's limits, then updates its
    stream's counters; a worker recording one of the user's results holds that stream's row, then
    tallies the usage (whose row refers to the user). Were the user's row held ``FOR UPDATE``, the
    worker would wait for the submission and the submission for the worker: a deadlock that
    PostgreSQL ends by failing one of them (a 500 for the submission)."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the submission and the record run one after the other")
    user, _ = make_user("ann")
    stream_id = uuid7()
    with db.write() as conn:
        insert_stream(conn, stream_id=stream_id, user_id=user, name="s", window="24h", now=now())
        new = NewItem(uuid7(), user, "m", "{}", deadline=now() + 60, created_at=now(), stream_id=stream_id)
        insert_items(conn, [new])
        count_new_item(conn, stream_id, now=now())
    (item,) = claim(db)
    recorded: list[object] = []

    def record_it() -> None:
        try:
            recorded.append(record(db, "w1", done(item.id)))
        except Exception as exc:
            recorded.append(exc)

    recorder = threading.Thread(target=record_it)
    with db.write() as submission:
        assert lock_user_limits(submission, user) is not None
        recorder.start()
        recorder.join(10)
        assert recorded == [{item.id}], "the worker waited for the submission's hold on the user"
        count_new_item(submission, stream_id, now=now())
    with db.read() as conn:
        stream = get_stream(conn, stream_id, user_id=user)
    assert stream is not None and (stream.counts.completed_count, stream.counts.request_count) == (1, 2)


def test_concurrent_claims_never_hand_out_an_item_twice(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    batch_id, ids = seed_batch(db, user, 300)
    taken: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            got = claim(db, worker=name, limit=7)
            if not got:
                return
            with lock:
                taken.extend(c.id for c in got)
            record(db, name, *(done(c.id) for c in got))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(ids)
    assert batch_row(db, batch_id).status == "completed"
    assert_counters_match(db, batch_id)
    feed = [e.id for e in events(db)]
    assert feed == sorted(feed) and len(feed) == 300
