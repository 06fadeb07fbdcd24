"""Usage per user, model and UTC day, as the queue tallies it: results, failures, expiries and
cancels each on the day they happened, in the same transaction as the items."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from sference_server.domain.outcome import ChatOutput, ItemError, Timings, Usage
from sference_server.domain.states import ItemStatus
from sference_server.domain.usage import UsageCounts
from sference_server.services.usage import UsageService
from sference_server.store import queue
from sference_server.store.database import Database
from sference_server.store.tables import items, usage_days
from sference_server.store.usage import usage_between
from support.store import complete_with_usage, seed_batch


def at(text: str) -> float:
    """A UTC time, ``2026-11-01T10:00:00``, as Unix seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_each_finished_request_counts_on_its_utc_day_per_user_and_model(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    seed_batch(db, ann, 3, model="m")
    complete_with_usage(db, "m", [Usage(100, 10, 60, 2), Usage(50, 5), None], at=at("2026-11-01T10:00:00"))
    seed_batch(db, ann, 2, model="m")
    complete_with_usage(db, "m", [Usage(7, 1)], at=at("2026-11-02T23:59:59.500"))  # the last moment of the day
    complete_with_usage(db, "m", [Usage(9, 2)], at=at("2026-11-03T00:00:00"))  # the next one
    seed_batch(db, bob, 1, model="other")
    complete_with_usage(db, "other", [Usage(3, 3, 0, 1)], at=at("2026-11-01T12:00:00"))

    with db.read() as tx:
        everyone = usage_between(tx, since="2026-11-01", until="2026-11-03")
        ann_first_two = usage_between(tx, since="2026-11-01", until="2026-11-02", user_id=ann)
        other_model = usage_between(tx, since="2026-10-01", until="2026-12-01", model="other")
    assert [(r.day, r.username, r.model) for r in everyone] == [
        ("2026-11-01", "ann", "m"),
        ("2026-11-01", "bob", "other"),
        ("2026-11-02", "ann", "m"),
        ("2026-11-03", "ann", "m"),
    ]
    assert everyone[0].counts == UsageCounts(
        completed=2, failed=1, prompt_tokens=150, completion_tokens=15, cached_tokens=60, reasoning_tokens=2
    )
    assert everyone[1].counts == UsageCounts(completed=1, prompt_tokens=3, completion_tokens=3, reasoning_tokens=1)
    assert everyone[2].counts == UsageCounts(completed=1, prompt_tokens=7, completion_tokens=1)
    assert everyone[3].counts == UsageCounts(completed=1, prompt_tokens=9, completion_tokens=2)
    assert [r.day for r in ann_first_two] == ["2026-11-01", "2026-11-02"]
    assert [(r.username, r.counts.completed) for r in other_model] == [("bob", 1)]


def test_the_rollup_equals_the_items_and_refused_results_count_nowhere(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A result for an item the worker no longer holds is refused, and adds nothing to usage; what
    is recorded equals the SUM over the items themselves."""
    ann, _ = make_user("ann")
    seed_batch(db, ann, 4, model="m")
    when = at("2026-11-05T08:00:00")
    with db.write() as tx:
        claimed = queue.claim(tx, worker_id="w1", models=["m"], limit=4, lease_seconds=60, now=when)
    output = ChatOutput("ok", "stop", Usage(10, 4, 2, 1), Timings(when, when))
    with db.write() as tx:
        accepted = queue.record_outcomes(
            tx,
            worker_id="w1",
            outcomes=[queue.Outcome(c.id, ItemStatus.COMPLETED, output=output) for c in claimed[:3]],
            now=when,
        )
    assert len(accepted) == 3
    with db.write() as tx:  # another worker's late word on the same items, and on one it never held
        refused = queue.record_outcomes(
            tx,
            worker_id="w2",
            outcomes=[queue.Outcome(c.id, ItemStatus.COMPLETED, output=output) for c in claimed],
            now=when,
        )
    assert refused == set()
    with db.read() as tx:
        (row,) = usage_between(tx, since="2026-11-05", until="2026-11-05")
        sums = tx.execute(
            select(func.count(), func.sum(items.c.prompt_tokens), func.sum(items.c.completion_tokens)).where(
                items.c.status == "completed"
            )
        ).one()
    assert row.counts == UsageCounts(
        completed=3, prompt_tokens=30, completion_tokens=12, cached_tokens=6, reasoning_tokens=3
    )
    assert (row.counts.completed, row.counts.prompt_tokens, row.counts.completion_tokens) == tuple(sums)


def test_expired_and_cancelled_requests_count_on_the_day_they_ended(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    seed_batch(db, ann, 2, model="m", deadline=at("2026-11-07T00:00:00"))
    with db.write() as tx:
        assert queue.expire_overdue(tx, now=at("2026-11-07T01:00:00")) == 2
    batch_id, _ = seed_batch(db, ann, 3, model="m")
    with db.write() as tx:
        cancelled = queue.cancel(
            tx,
            queue.Scope(batch_id=batch_id),
            statuses=[ItemStatus.QUEUED],
            error=ItemError("batch_cancelled", "cancelled"),
            now=at("2026-11-08T09:00:00"),
        )
    assert cancelled == 3
    with db.read() as tx:
        rows = {r.day: r.counts for r in usage_between(tx, since="2026-11-01", until="2026-11-30", user_id=ann)}
        stored = tx.execute(select(func.count()).select_from(usage_days)).scalar_one()
    assert rows == {"2026-11-07": UsageCounts(expired=2), "2026-11-08": UsageCounts(cancelled=3)}
    assert stored == 2  # one row per user, day and model, however many items


def test_a_report_has_every_day_of_its_range_and_totals_per_model(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    seed_batch(db, ann, 2, model="a")
    complete_with_usage(db, "a", [Usage(5, 1), Usage(5, 1)], at=at("2026-11-02T10:00:00"))
    seed_batch(db, ann, 1, model="b")
    complete_with_usage(db, "b", [None], at=at("2026-11-04T10:00:00"))
    report = UsageService(db).read(date(2026, 11, 1), date(2026, 11, 4), user_id=ann)
    assert [(day.isoformat(), counts.completed, counts.failed) for day, counts in report.by_day()] == [
        ("2026-11-01", 0, 0),
        ("2026-11-02", 2, 0),
        ("2026-11-03", 0, 0),
        ("2026-11-04", 0, 1),
    ]
    assert report.by_model() == [
        ("a", UsageCounts(completed=2, prompt_tokens=10, completion_tokens=2)),
        ("b", UsageCounts(failed=1)),
    ]
    assert report.totals == UsageCounts(completed=2, failed=1, prompt_tokens=10, completion_tokens=2)
