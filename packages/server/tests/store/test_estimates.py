"""What completion estimates read from the store (real SQLite and PostgreSQL): the work ahead in
the claim's order, running work, and the requests that completed recently."""

from __future__ import annotations

from collections.abc import Callable

from sference_server.domain.estimates import measure
from sference_server.domain.outcome import Usage
from sference_server.store import estimates
from sference_server.store.database import Database
from sference_server.timeutil import now
from support.store import complete_with_usage, seed_batch

DAY = 86_400.0
URGENT = 1800.0


def ahead(db: Database, place: estimates.Place) -> int:
    with db.read() as tx:
        return estimates.queued_ahead(tx, place, now=now(), urgent_seconds=URGENT)


def place_of(db: Database, batch_id: str) -> estimates.Place:
    with db.read() as tx:
        place = estimates.batch_place(tx, batch_id)
    assert place is not None
    return place


def test_work_ahead_follows_the_fair_order_not_the_whole_backlog(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    cat, _ = make_user("cat")
    big, _ = seed_batch(db, ann, 100, deadline=now() + DAY)
    small, _ = seed_batch(db, bob, 10, deadline=now() + DAY)
    # Bob's ten are interleaved with Ann's next ten: twenty before his last one is claimed.
    assert ahead(db, place_of(db, small)) == 20
    assert ahead(db, place_of(db, big)) == 110  # Ann's last one waits for everything
    # A batch not yet queued: where its last row would go (Cat's 5 rows take keys 0-4).
    with db.read() as tx:
        new = estimates.new_place(tx, user_id=cat, model="m", priority=1, deadline=now() + DAY, window=DAY, count=5)
        assert estimates.running(tx, "m") == 0
    assert ahead(db, new) == 10  # five of Ann's and five of Bob's; Cat's own are not queued yet
    # Near their deadline, requests go first (the claim's urgent pick), whatever their fair key.
    seed_batch(db, cat, 3, deadline=now() + 600)
    assert ahead(db, place_of(db, small)) == 23
    first = estimates.Place("m", 1, now() + DAY, fair_key=-1.0)  # before every key
    assert ahead(db, first) == 3
    # A place that is urgent itself is claimed earliest deadline first: only nearer deadlines.
    assert ahead(db, estimates.Place("m", 1, now() + 900, fair_key=-1.0)) == 3
    assert ahead(db, estimates.Place("m", 1, now() + 300, fair_key=1e9)) == 0
    assert ahead(db, estimates.Place("m", 2, now() + DAY, fair_key=-1.0)) == 113  # a lower priority waits for all
    other_model, _ = seed_batch(db, cat, 7, model="other", deadline=now() + DAY)
    assert ahead(db, place_of(db, other_model)) == 7  # each model is its own queue


def test_running_work_and_recent_completions(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    ann, _ = make_user("ann")
    seed_batch(db, ann, 6, deadline=now() + DAY)
    before = now()
    complete_with_usage(db, "m", [Usage(3, 7), Usage(3, 5)])
    with db.read() as tx:
        finished = estimates.recent_finished(tx, since=before - 1, limit=100)
        assert estimates.recent_finished(tx, since=now() + 1, limit=100) == []  # nothing after now
        assert len(estimates.recent_finished(tx, since=before - 1, limit=1)) == 1  # the newest only
    assert sorted(f.completion_tokens for f in finished) == [5, 7] and {f.model for f in finished} == {"m"}
    measured = measure(finished)["m"]
    assert measured.requests == 2 and measured.completion_tokens == 12 and measured.busy_seconds > 0
