"""The one submit/cancel path: every entry point queues through ``Lifecycle`` and cancels by scope."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from sference_server.domain.outcome import ChatOutput, ItemError, Timings, Usage
from sference_server.domain.states import ItemStatus, Priority
from sference_server.ids import uuid7
from sference_server.security.principal import Principal
from sference_server.services import ApiServices
from sference_server.services import lifecycle as lifecycle_module
from sference_server.services.batch_rows import ParsedBatch, spill_file, spill_row
from sference_server.store import ingest, queue
from sference_server.store import items as item_store
from sference_server.store.database import Database
from sference_server.store.items import NewItem
from sference_server.store.records import Item
from sference_server.store.sweep import sweep
from sference_server.store.tables import batches, items
from sference_server.timeutil import now
from support.settings import ECHO_MODEL, echo_settings
from support.store import assert_counters_match, batch_row, item_rows, seed_batch

MakeUser = Callable[..., tuple[str, str]]
CANCELLED = ItemError("response_cancelled", "cancelled by the test")


@pytest.fixture
def services(db: Database, tmp_path: Path) -> ApiServices:
    return ApiServices.build(echo_settings(tmp_path, db.url), db)


def principal(user_id: str) -> Principal:
    return Principal(
        user_id=user_id,
        username="ann",
        role="user",
        key_id="k",
        key_name="k",
        key_prefix="sk_x",
        scopes=frozenset(),
        api_version="2025-10-01",
    )


def complete(db: Database, item_id: str) -> None:
    with db.write() as tx:
        (claimed,) = queue.claim(tx, worker_id="w", models=["m"], limit=1, lease_seconds=60, now=now())
        assert claimed.id == item_id
        output = ChatOutput("done", "stop", Usage(2, 1), Timings(now(), now()))
        queue.record_outcomes(
            tx, worker_id="w", outcomes=[queue.Outcome(item_id, ItemStatus.COMPLETED, output=output)], now=now()
        )


def test_cancelling_a_batch_s_last_item_finishes_the_batch(
    db: Database, make_user: MakeUser, services: ApiServices
) -> None:
    user, _ = make_user("ann")
    batch_id, (first, last) = seed_batch(db, user, 2)
    complete(db, first)
    assert batch_row(db, batch_id).status == "running"
    # The item route of /v1/responses sees batch rows too: cancelling the last one ends the batch.
    services.responses.cancel(principal(user), last)
    batch = batch_row(db, batch_id)
    assert batch.status == "completed" and batch.completed_at is not None
    assert [r.status for r in item_rows(db, batch_id)] == ["completed", "cancelled"]
    assert_counters_match(db, batch_id)


def test_cancelling_the_only_item_of_a_batch_fails_it_with_a_reason(
    db: Database, make_user: MakeUser, services: ApiServices
) -> None:
    user, _ = make_user("ann")
    batch_id, (only,) = seed_batch(db, user, 1)
    assert services.lifecycle.cancel(queue.Scope(item_id=only), CANCELLED) == 1
    assert batch_row(db, batch_id).status == "failed"
    assert services.lifecycle.cancel(queue.Scope(item_id=only), CANCELLED) == 0  # nothing left to cancel
    assert_counters_match(db, batch_id)


def test_a_batch_that_finished_first_is_left_as_it_ended(
    db: Database, make_user: MakeUser, services: ApiServices
) -> None:
    user, _ = make_user("ann")
    batch_id, (only,) = seed_batch(db, user, 1)
    complete(db, only)
    assert services.lifecycle.cancel_batch(batch_id) is False
    assert batch_row(db, batch_id).status == "completed"
    assert_counters_match(db, batch_id)


def test_every_entry_point_queues_through_enqueue_and_wakes_the_workers(
    db: Database, make_user: MakeUser, services: ApiServices
) -> None:
    user, _ = make_user("ann")
    who = principal(user)
    body = {"model": ECHO_MODEL, "input": "hello", "metadata": {"custom_id": "c-1"}}

    async def submit_and_hear_of_it() -> Item:
        woken = asyncio.Event()
        services.core.work_signal.subscribe(woken)
        submitted = await asyncio.to_thread(services.responses.create, who, body)
        await asyncio.wait_for(woken.wait(), 5)
        return submitted

    response = asyncio.run(submit_and_hear_of_it())
    chat = services.interactive.validate({"model": ECHO_MODEL, "messages": [{"role": "user", "content": "hi"}]})
    interactive = services.interactive.submit(who, chat)
    assert response.status == interactive.status == ItemStatus.QUEUED
    assert response.priority == Priority.QUEUED and interactive.priority == Priority.INTERACTIVE
    assert response.custom_id == "c-1" and response.chat_body()["messages"] == [{"role": "user", "content": "hello"}]


def test_validate_names_every_problem_with_its_path(services: ApiServices) -> None:
    chat, problems = services.lifecycle.validate(
        {"model": "nope", "messages": [{"role": "user", "content": "x"}], "temperature": 3}, context="body"
    )
    assert chat is None
    assert [p.field for p in problems] == ["body.temperature"]
    chat, problems = services.lifecycle.validate({"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert chat is None and [(p.field, p.code) for p in problems] == [("model", "model_not_found")]


class CrashingRows(ParsedBatch):
    """Rows that run out in the middle: the process dies after ``crash_after`` rows were read.
    Before dying it records what another client could see of the batch being written (or what
    ``probe`` returns)."""

    def __init__(
        self,
        services: ApiServices,
        who: Principal,
        count: int,
        crash_after: int,
        probe: Callable[[], object] | None = None,
    ) -> None:
        spill = spill_file()
        for i in range(count):
            spill_row(spill, f"r{i}", {"model": ECHO_MODEL, "messages": [{"role": "user", "content": "hi"}]})
        super().__init__(window="24h", model=ECHO_MODEL, count=count, rows=spill)
        self.services, self.who, self.crash_after = services, who, crash_after
        self.probe = probe or self.visible
        self.seen_while_writing: object = None

    def visible(self) -> tuple[int, int, int]:
        """Rows written, batches listed, items claimable."""
        with self.services.db.read() as tx:
            written = tx.execute(select(func.count()).select_from(items)).scalar_one()
        listed = len(self.services.batches.list(self.who, limit=10, before=None))
        return written, listed, len(claim(self.services.db, limit=10))

    def iter_rows(self) -> Iterator[tuple[str | None, str]]:
        for index, row in enumerate(super().iter_rows()):
            if index == self.crash_after:
                self.seen_while_writing = self.probe()
                raise RuntimeError("the process died")
            yield row


def claim(db: Database, *, limit: int) -> list[queue.ClaimedItem]:
    with db.write() as tx:
        return queue.claim(tx, worker_id="w", models=[ECHO_MODEL], limit=limit, lease_seconds=60, now=now())


def test_a_batch_is_written_in_chunks_invisible_until_whole_and_a_failed_ingest_leaves_nothing(
    db: Database, make_user: MakeUser, services: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle_module, "INGEST_CHUNK", 100)
    _, key = make_user("ann")
    who = services.accounts.authenticate(key)
    rows = CrashingRows(services, who, count=450, crash_after=350)
    with pytest.raises(RuntimeError, match="died"):
        services.lifecycle.enqueue_batch(who, rows)
    assert rows.seen_while_writing == (300, 0, 0)  # three chunks committed, none of it visible or claimable
    with db.read() as tx:
        assert tx.execute(select(func.count()).select_from(items)).scalar_one() == 0
        assert tx.execute(select(func.count()).select_from(batches)).scalar_one() == 0
    whole = services.lifecycle.enqueue_batch(who, CrashingRows(services, who, count=250, crash_after=10**6))
    assert whole.status == "pending" and whole.counts.request_count == 250
    assert len(item_rows(db, whole.id)) == 250


def test_a_claim_does_not_walk_the_rows_of_a_batch_being_written(
    db: Database, make_user: MakeUser, services: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim while a big batch is ingested costs what it costs with nothing queued: it once read
    past every row written so far (0.6 s a claim, under the writer, at a million rows)."""
    if not db.is_sqlite:
        pytest.skip("counts the steps of SQLite's virtual machine")
    monkeypatch.setattr(lifecycle_module, "INGEST_CHUNK", 500)
    monkeypatch.setattr(ingest, "HOLD_ABOVE_ROWS", 1000)
    _, key = make_user("ann")
    who = services.accounts.authenticate(key)

    def claim_steps() -> int:
        steps = 0

        def step() -> int:
            nonlocal steps
            steps += 1
            return 0  # go on

        with db.write() as tx:
            driver = tx.connection.driver_connection
            assert driver is not None
            driver.set_progress_handler(step, 100)
            try:
                assert queue.claim(tx, worker_id="w", models=[ECHO_MODEL], limit=10, lease_seconds=60, now=now()) == []
            finally:
                driver.set_progress_handler(None, 0)
        return steps

    nothing_queued = claim_steps()
    rows = CrashingRows(services, who, count=3000, crash_after=2500, probe=claim_steps)
    with pytest.raises(RuntimeError, match="died"):
        services.lifecycle.enqueue_batch(who, rows)
    assert isinstance(rows.seen_while_writing, int)
    assert rows.seen_while_writing <= nothing_queued + 5, (rows.seen_while_writing, nothing_queued)


def test_a_published_batch_is_released_a_chunk_at_a_time_and_the_sweep_finishes_a_release_cut_short(
    db: Database, make_user: MakeUser, services: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle_module, "INGEST_CHUNK", 100)
    monkeypatch.setattr(ingest, "RELEASE_CHUNK", 100)
    monkeypatch.setattr(ingest, "HOLD_ABOVE_ROWS", 200)
    _, key = make_user("ann")
    who = services.accounts.authenticate(key)
    small = services.lifecycle.enqueue_batch(who, CrashingRows(services, who, count=150, crash_after=10**6))
    assert {row.priority for row in item_rows(db, small.id)} == {Priority.QUEUED}  # written claimable
    whole = services.lifecycle.enqueue_batch(who, CrashingRows(services, who, count=250, crash_after=10**6))
    assert len(claim(db, limit=1000)) == 400  # the big one released in three chunks: all of it claimable

    def process_dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process died")

    with monkeypatch.context() as crash:
        crash.setattr(ingest, "release", process_dies)
        cut_short = services.lifecycle.enqueue_batch(who, CrashingRows(services, who, count=250, crash_after=10**6))
    assert cut_short.status == "pending" and cut_short.counts.queued_count == 250  # accepted whole
    row_index = {row.id: row.row_index for row in item_rows(db, cut_short.id)}
    first = claim(db, limit=1000)
    assert sorted(row_index[item.id] for item in first) == list(range(100))  # released with the publish
    with db.read() as tx:
        held = [row for row in item_rows(db, cut_short.id) if row.row_index >= 100]
        assert {item.priority for item in item_store.get_items(tx, [row.id for row in held]).values()} == {
            Priority.QUEUED  # a held row reads as the queued class it will be claimed in
        }
    sweep(db, max_attempts=3)
    rest = claim(db, limit=1000)
    assert sorted(row_index[item.id] for item in rest) == list(range(100, 250))
    assert {batch_row(db, batch.id).held_from for batch in (small, whole, cut_short)} == {None}


def test_ingest_chunks_end_at_a_row_count_or_a_size() -> None:
    def row(size: int) -> NewItem:
        return NewItem(id=uuid7(), user_id="u", model="m", body="x" * size, deadline=1.0, created_at=0.0)

    sizes = [10, 10, 10, 10, 10, 60, 10, 5]
    chunks = list(lifecycle_module._chunks((row(n) for n in sizes), 3, 50))
    assert [[len(r.body) for r in chunk] for chunk in chunks] == [[10, 10, 10], [10, 10, 60], [10, 5]]
    assert [len(chunk) for chunk in lifecycle_module._chunks((row(1) for _ in range(7)), 3, 50)] == [3, 3, 1]


def test_the_sweep_deletes_an_ingest_its_process_abandoned(db: Database, make_user: MakeUser) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 7)
    with db.write() as tx:  # as a crash mid-ingest leaves it, five minutes later
        tx.execute(update(batches).where(batches.c.id == batch_id).values(status="ingesting", updated_at=now() - 301))
    sweep(db, max_attempts=3)
    with db.read() as tx:
        assert tx.execute(select(func.count()).select_from(items)).scalar_one() == 0
        assert tx.execute(select(func.count()).select_from(batches)).scalar_one() == 0
