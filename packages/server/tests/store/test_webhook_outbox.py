"""The webhook outbox: deliveries are written by the transaction that finishes a batch (or completes
a stream item that asked for them), claimed once across deliverers, and cost one indexed read
when nobody listens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from sference_server.domain.outcome import ItemError
from sference_server.domain.states import ItemStatus
from sference_server.domain.webhooks import DeliveryStatus, EventType
from sference_server.ids import uuid7
from sference_server.store import queue
from sference_server.store import webhooks as store
from sference_server.store.batches import begin_cancel
from sference_server.store.cancels import cancel_batch_items
from sference_server.store.database import Database
from sference_server.store.items import NewItem, insert_items
from sference_server.store.streams import count_new_item, insert_stream
from sference_server.store.tables import webhook_deliveries
from sference_server.timeutil import now
from support.store import seed_batch, sqlite_plan, statements_run, waiting_on_a_lock

from .test_queue import claim, done, record

ALL = tuple(e.value for e in EventType if e != EventType.TEST)


def endpoint(db: Database, user_id: str, events: tuple[str, ...] = ALL, *, enabled: bool = True) -> str:
    endpoint_id = uuid7()
    record_ = store.WebhookEndpoint(endpoint_id, user_id, "http://127.0.0.1:9/h", "whsec_x", events, "", enabled, now())
    with db.write() as tx:
        store.insert_endpoint(tx, record_)
    return endpoint_id


def outbox(db: Database) -> list[tuple[str, str, str]]:
    """(endpoint, event type, subject) of every delivery, oldest first."""
    with db.read() as tx:
        rows = tx.execute(
            select(
                webhook_deliveries.c.endpoint_id, webhook_deliveries.c.event_type, webhook_deliveries.c.subject_id
            ).order_by(webhook_deliveries.c.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_finished_batch_queues_one_delivery_per_subscribed_endpoint(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    every = endpoint(db, ann)
    only_failures = endpoint(db, ann, ("batch.failed",))
    endpoint(db, ann, ALL, enabled=False)
    endpoint(db, bob)  # another user's: never told about ann's batches
    batch_id, ids = seed_batch(db, ann, 2)
    claim(db)
    record(db, "w1", done(ids[0]))
    assert outbox(db) == []  # one item still running: not finished
    record(db, "w1", done(ids[1]))
    assert outbox(db) == [(every, "batch.completed", batch_id)]

    failing, failing_ids = seed_batch(db, ann, 1)
    claim(db)
    record(db, "w1", queue.Outcome(failing_ids[0], ItemStatus.FAILED, error=ItemError("engine_error", "x")))
    assert sorted(outbox(db)[1:]) == sorted(
        [(every, "batch.failed", failing), (only_failures, "batch.failed", failing)]
    )


def test_cancelled_and_expired_batches_queue_their_events(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    hook = endpoint(db, ann)
    cancelled, _ = seed_batch(db, ann, 3)
    with db.write() as tx:
        begin_cancel(tx, cancelled, now=now())
    assert outbox(db) == []
    cancel_batch_items(db, cancelled)
    assert outbox(db) == [(hook, "batch.cancelled", cancelled)]

    overdue, _ = seed_batch(db, ann, 2, deadline=now() - 1)
    with db.write() as tx:
        assert queue.expire_overdue(tx, now=now()) == 2
    assert outbox(db)[1:] == [(hook, "batch.expired", overdue)]


def test_the_delivery_is_written_or_lost_with_the_change(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """The outbox row is part of the recording transaction: rolled back with it."""
    ann, _ = make_user("ann")
    endpoint(db, ann)
    _, ids = seed_batch(db, ann, 1)
    claim(db)

    def crash_before_the_commit() -> None:
        with db.write() as tx:
            queue.record_outcomes(tx, worker_id="w1", outcomes=[done(ids[0])], now=now())
            assert outbox(db) == []  # not visible before the commit either
            raise RuntimeError("crash before the commit")

    with pytest.raises(RuntimeError):
        crash_before_the_commit()
    assert outbox(db) == []
    record(db, "w1", done(ids[0]))
    assert len(outbox(db)) == 1


def test_without_endpoints_a_finishing_batch_costs_one_indexed_read(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    _, ids = seed_batch(db, ann, 3)
    claim(db)
    record(db, "w1", done(ids[0]))
    with statements_run(db) as statements:
        record(db, "w1", done(ids[1]))  # the batch does not finish: no webhook statement at all
    assert not [s for s, _ in statements if "webhook" in s]
    with statements_run(db) as statements:
        record(db, "w1", done(ids[2]))
    webhook = [(s, p) for s, p in statements if "webhook" in s]
    assert len(webhook) == 1 and webhook[0][0].startswith("SELECT")
    if db.is_sqlite:
        assert "ix_webhook_endpoints_user_id" in sqlite_plan(db, *webhook[0])


def test_a_stream_that_asked_sends_response_completed_for_completed_items_only(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    hook = endpoint(db, ann)
    loud, quiet = uuid7(), uuid7()
    with db.write() as tx:
        insert_stream(tx, stream_id=loud, user_id=ann, name="loud", window="24h", now=now(), webhook_responses=True)
        insert_stream(tx, stream_id=quiet, user_id=ann, name="quiet", window="24h", now=now())
    ids = {}
    with db.write() as tx:
        for name, stream_id in (("a", loud), ("b", loud), ("c", quiet)):
            ids[name] = uuid7()
            count_new_item(tx, stream_id, now=now())
            insert_items(
                tx,
                [NewItem(ids[name], ann, "m", '{"model":"m"}', now() + 60, now(), stream_id=stream_id)],
            )
    claim(db)
    failed = queue.Outcome(ids["b"], ItemStatus.FAILED, error=ItemError("engine_error", "x"))
    record(db, "w1", done(ids["a"]), failed, done(ids["c"]))
    assert outbox(db) == [(hook, "response.completed", ids["a"])]


def test_claims_hold_a_delivery_for_one_deliverer_until_the_lease_ends(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    endpoint(db, ann)
    with db.write() as tx:
        (delivery_id,) = store.enqueue(tx, [store.WebhookEvent(ann, EventType.BATCH_COMPLETED, uuid7())], now=now())
    with statements_run(db) as statements, db.read() as tx:
        assert store.has_due(tx, now=now())
    if db.is_sqlite:  # read from the partial index of pending deliveries, as the claim picks
        read = next(s for s in statements if s[0].startswith("SELECT webhook_deliveries.id"))
        assert "ix_webhook_deliveries_due" in sqlite_plan(db, *read)
    with statements_run(db) as statements, db.write() as tx:
        (first,) = store.claim_due(tx, now=now(), limit=10, lease_seconds=60)
    if db.is_sqlite:
        pick = next(s for s in statements if s[0].startswith("SELECT webhook_deliveries.id"))
        assert "ix_webhook_deliveries_due" in sqlite_plan(db, *pick)
    with db.read() as tx:
        assert not store.has_due(tx, now=now())
    with db.write() as tx:
        assert store.claim_due(tx, now=now(), limit=10, lease_seconds=60) == []  # held
    assert first.delivery.attempts == 1 and first.url == "http://127.0.0.1:9/h"
    with db.write() as tx:  # the first deliverer died: after its lease another one takes it
        (second,) = store.claim_due(tx, now=now() + 61, limit=10, lease_seconds=60)
    assert second.delivery.attempts == 2
    late = store.Attempt(delivery_id, 1, now(), "{}", 200, None, None)
    current = store.Attempt(delivery_id, 2, now(), "{}", 500, "the endpoint answered 500", now() + 5)
    with db.write() as tx:
        assert store.record_attempts(tx, [late]) == 0  # not the first deliverer's any more
        assert store.record_attempts(tx, [current]) == 1
    with db.read() as tx:
        row = store.get_delivery(tx, delivery_id, user_id=ann)
    assert row is not None and row.status == DeliveryStatus.PENDING and row.last_status_code == 500


def test_deleting_an_endpoint_waits_for_a_recorder_queuing_a_delivery_to_it(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A recorder holds the endpoint row (``FOR KEY SHARE``) while it inserts a delivery and until
    its commit; the delete takes the endpoint row before the deliveries, so it waits, then
    deletes that delivery too, instead of failing on the foreign key (a 500 from the API)."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the delete runs before or after the recorder, whole")
    ann, _ = make_user("ann")
    hook = endpoint(db, ann)
    with db.write() as tx:
        store.enqueue(tx, [store.WebhookEvent(ann, EventType.BATCH_COMPLETED, uuid7())], now=now())
    outcome: list[object] = []

    def delete_it() -> None:
        try:
            with db.write() as tx:
                outcome.append(store.delete_endpoint(tx, hook, user_id=ann))
        except Exception as exc:
            outcome.append(exc)

    deleter = threading.Thread(target=delete_it)
    with db.write() as recorder:
        store.enqueue(recorder, [store.WebhookEvent(ann, EventType.BATCH_FAILED, uuid7())], now=now())
        deleter.start()
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock(db):  # the deleter now waits for this transaction
            assert time.monotonic() < deadline and deleter.is_alive(), outcome
            time.sleep(0.02)
    deleter.join(10)
    assert outcome == [True]
    assert outbox(db) == []
    with db.read() as tx:
        assert store.get_endpoint(tx, hook, user_id=ann) is None
