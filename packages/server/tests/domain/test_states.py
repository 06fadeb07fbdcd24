"""The state machines as data: what they allow, and the guarded updates that enforce them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sference_server.domain.states import (
    ACTIVE_BATCH_STATUSES,
    ACTIVE_ITEM_STATUSES,
    BATCH_TRANSITIONS,
    ITEM_TRANSITIONS,
    OPENAI_BATCH_TRANSITIONS,
    RUNNABLE_BATCH_STATUSES,
    STREAM_TRANSITIONS,
    TERMINAL_BATCH_STATUSES,
    TERMINAL_ITEM_STATUSES,
    BatchStatus,
    IllegalTransition,
    ItemStatus,
    StreamStatus,
    check_transition,
    sources,
)
from sference_server.errors import Conflict
from sference_server.store import batches as batch_store
from sference_server.store import streams as stream_store
from sference_server.store.database import Database
from sference_server.timeutil import now
from support.store import batch_row, seed_batch


def test_every_state_of_every_machine_is_listed() -> None:
    for machine in (ITEM_TRANSITIONS, BATCH_TRANSITIONS, STREAM_TRANSITIONS, OPENAI_BATCH_TRANSITIONS):
        states = set(machine)
        assert all(targets <= states for targets in machine.values())
        assert states == set(type(next(iter(machine))))


def test_active_and_terminal_statuses_come_from_the_tables() -> None:
    assert ACTIVE_ITEM_STATUSES == (ItemStatus.QUEUED, ItemStatus.RUNNING)
    assert set(TERMINAL_ITEM_STATUSES) == {"completed", "failed", "cancelled", "expired"}
    assert ACTIVE_BATCH_STATUSES == (
        BatchStatus.INGESTING,
        BatchStatus.PENDING,
        BatchStatus.RUNNING,
        BatchStatus.CANCELLING,
    )
    assert set(TERMINAL_BATCH_STATUSES) == {"completed", "failed", "cancelled"}
    assert RUNNABLE_BATCH_STATUSES == (BatchStatus.PENDING, BatchStatus.RUNNING)  # cancelling: nothing claimed


def test_sources_are_the_states_a_guard_accepts() -> None:
    assert sources(ITEM_TRANSITIONS, ItemStatus.CANCELLED) == (ItemStatus.QUEUED, ItemStatus.RUNNING)
    assert sources(STREAM_TRANSITIONS, StreamStatus.ARCHIVED) == (StreamStatus.OPEN, StreamStatus.CANCELLED)
    assert sources(ITEM_TRANSITIONS, ItemStatus.COMPLETED) == (ItemStatus.RUNNING,)


def test_a_forbidden_transition_raises_a_conflict() -> None:
    check_transition(ITEM_TRANSITIONS, ItemStatus.RUNNING, ItemStatus.QUEUED, what="item x")
    with pytest.raises(IllegalTransition) as raised:
        check_transition(ITEM_TRANSITIONS, ItemStatus.COMPLETED, ItemStatus.RUNNING, what="item x")
    assert isinstance(raised.value, Conflict)
    assert raised.value.detail == "item x is completed; it cannot become running"


def test_a_guarded_update_that_matches_no_row_raises(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 1)
    with pytest.raises(IllegalTransition) as raised, db.write() as tx:
        batch_store.mark_cancelled(tx, batch_id, now=now())  # only a cancelling batch may end cancelled
    assert raised.value.old == "pending" and raised.value.new == "cancelled"
    with db.write() as tx:
        batch_store.begin_cancel(tx, batch_id, now=now())
    with pytest.raises(IllegalTransition) as raised, db.write() as tx:
        batch_store.begin_cancel(tx, batch_id, now=now() + 5)
    assert raised.value.old == "cancelling" and raised.value.new == "cancelling"
    # The refused change wrote nothing.
    assert batch_row(db, batch_id).cancelled_at < now()


def test_a_guarded_stream_change_raises_from_a_state_it_cannot_leave(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    with db.write() as tx:
        stream_store.insert_stream(tx, stream_id="s-1", user_id=user, name="n", window="1h", now=now())
        stream_store.move_to(tx, "s-1", StreamStatus.ARCHIVED, now=now())
    with pytest.raises(IllegalTransition) as raised, db.write() as tx:
        stream_store.move_to(tx, "s-1", StreamStatus.CANCELLED, now=now())
    assert raised.value.old == "archived"
