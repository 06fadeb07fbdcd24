"""The queue as monitoring sees it (store/queue_stats.py, services/metrics.py): counts by model,
priority and state, and the oldest queued request, from batch counters and the index of active
items outside batches (never a big batch's rows)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sference_server import metrics
from sference_server.domain.states import ItemStatus, Priority
from sference_server.ids import uuid7
from sference_server.services.metrics import QueueCollector
from sference_server.store import queue
from sference_server.store.database import Database
from sference_server.store.items import NewItem, insert_items
from sference_server.store.queue_stats import QueueDepth, queue_depths
from sference_server.store.sweep import sweep
from sference_server.timeutil import now
from support.store import seed_batch, sqlite_plan, statements_run


def depths(db: Database) -> dict[tuple[str, int, ItemStatus], QueueDepth]:
    with db.read() as tx:
        return {(d.model, d.priority, d.status): d for d in queue_depths(tx)}


def test_depths_by_model_and_state(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user_id, _ = make_user("alice")
    submitted = now()
    seed_batch(db, user_id, 5, model="m")
    seed_batch(db, user_id, 2, model="n")
    with db.write() as tx:
        insert_items(
            tx,
            [
                NewItem(
                    id=uuid7(),
                    user_id=user_id,
                    model="n",
                    body="{}",
                    deadline=now() + 60,
                    created_at=now(),
                    priority=Priority.INTERACTIVE,
                )
            ],
        )
    with db.write() as tx:
        claimed = queue.claim(tx, worker_id="w", models=["m"], limit=3, lease_seconds=60, now=now())
    assert len(claimed) == 3

    found = depths(db)
    assert set(found) == {
        ("m", Priority.QUEUED, ItemStatus.QUEUED),
        ("m", Priority.QUEUED, ItemStatus.RUNNING),
        ("n", Priority.QUEUED, ItemStatus.QUEUED),
        ("n", Priority.INTERACTIVE, ItemStatus.QUEUED),
    }
    assert found["m", Priority.QUEUED, ItemStatus.QUEUED].count == 2
    assert found["m", Priority.QUEUED, ItemStatus.RUNNING].count == 3
    assert found["n", Priority.QUEUED, ItemStatus.QUEUED].count == 2
    assert found["n", Priority.INTERACTIVE, ItemStatus.QUEUED].count == 1
    assert found["m", Priority.QUEUED, ItemStatus.RUNNING].oldest_created_at is None
    oldest = found["m", Priority.QUEUED, ItemStatus.QUEUED].oldest_created_at
    assert oldest is not None and submitted - 0.01 <= oldest <= now()


def test_a_big_batch_costs_no_row_reads(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    if db.is_postgres:
        return  # the plans are SQLite's; PostgreSQL chooses by statistics
    user_id, _ = make_user("alice")
    seed_batch(db, user_id, 3)
    with statements_run(db) as seen:
        depths(db)
    plans = [sqlite_plan(db, sql, params) for sql, params in seen if "FROM items" in sql or "FROM batches" in sql]
    assert len(plans) == 2, plans
    # Only the items outside batches: through ix_items_user_active, or the batch-row index at
    # batch_id NULL (the same rows), never a scan of every item.
    assert plans[0].startswith("SEARCH items USING INDEX"), plans
    assert "ix_items_user_active" in plans[0] or "(batch_id=?)" in plans[0], plans
    assert "items" not in plans[1], plans  # the batch's counters, not its rows


def test_the_collector_reports_priority_classes_and_age(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user_id, _ = make_user("alice")
    seed_batch(db, user_id, 4, model="m")
    registry = CollectorRegistry()
    registry.register(QueueCollector(db, ["m", "idle"]))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    assert samples["sference_queue_items", (("model", "m"), ("priority", "queued"), ("state", "queued"))] == 4
    age = samples["sference_queue_oldest_age_seconds", (("model", "m"), ("priority", "queued"))]
    assert 0 <= age < 60
    # a served model with nothing to do says 0, rather than nothing (which reads as "no data")
    for state in ("queued", "running"):
        assert samples["sference_queue_items", (("model", "idle"), ("priority", "queued"), ("state", state))] == 0
    assert ("sference_queue_oldest_age_seconds", (("model", "idle"), ("priority", "queued"))) not in samples


def test_the_sweep_reports_what_it_ended_by_model_status_and_code(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """Requests that end without a worker's outcome (expired in the queue, failed after their worker
    was lost) still reach the finished counter, through the sweep's report."""
    user_id, _ = make_user("alice")
    seed_batch(db, user_id, 3, model="m", deadline=now() - 1)
    seed_batch(db, user_id, 2, model="n")
    with db.write() as tx:
        queue.claim(tx, worker_id="gone", models=["n"], limit=2, lease_seconds=-1, now=now())
    report = sweep(db, max_attempts=1)
    assert report.ended == {("m", "expired", "batch_expired"): 3, ("n", "failed", "worker_lost"): 2}
    labels = {"model": "m", "status": "expired", "error_code": "batch_expired"}
    before = REGISTRY.get_sample_value("sference_items_finished_total", labels) or 0
    metrics.count_ended(report.ended)
    assert REGISTRY.get_sample_value("sference_items_finished_total", labels) == before + 3
