"""The worker loop against a real store, with the deterministic echo engine."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sference_server.config import Settings
from sference_server.domain.outcome import ItemError
from sference_server.domain.states import ACTIVE_ITEM_STATUSES
from sference_server.engines.echo import EchoEngine
from sference_server.store import queue
from sference_server.store.database import Database
from sference_server.timeutil import now
from sference_server.worker.runner import FLUSH_MAX, UNRECORDED_MAX, Worker
from support.settings import ECHO_MODEL, echo_settings
from support.store import assert_counters_match, batch_row, item_rows, seed_batch

MakeUser = Callable[..., tuple[str, str]]


def run_worker(
    db: Database,
    settings: Settings,
    engine: EchoEngine,
    *,
    until: Callable[[], bool],
    timeout: float = 30.0,
    worker_id: str = "test-worker",
) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        worker = Worker(db, {ECHO_MODEL: engine}, settings, worker_id=worker_id)
        task = asyncio.create_task(worker.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        while not await asyncio.to_thread(until):
            assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(main())


def finished(db: Database, batch_id: str) -> Callable[[], bool]:
    return lambda: batch_row(db, batch_id).status in ("completed", "failed", "cancelled")


def test_transient_errors_are_retried_then_succeed(db: Database, make_user: MakeUser, tmp_path: Path) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 3, model=ECHO_MODEL, contents=["a [[fail:transient:2]]", "b", "c"])
    settings = echo_settings(tmp_path, db.url)
    run_worker(db, settings, EchoEngine(ECHO_MODEL), until=finished(db, batch_id))
    rows = item_rows(db, batch_id)
    assert [r.status for r in rows] == ["completed"] * 3
    assert rows[0].attempts == 3 and rows[1].attempts == 1
    assert batch_row(db, batch_id).status == "completed"
    assert_counters_match(db, batch_id)


def test_transient_errors_give_up_after_max_attempts(db: Database, make_user: MakeUser, tmp_path: Path) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 2, model=ECHO_MODEL, contents=["a [[fail:transient:9]]", "b"])
    settings = echo_settings(tmp_path, db.url, max_attempts=2)
    run_worker(db, settings, EchoEngine(ECHO_MODEL), until=finished(db, batch_id))
    rows = item_rows(db, batch_id)
    assert rows[0].status == "failed" and rows[0].attempts == 2
    assert "gave up after 2 attempts" in json.loads(rows[0].error)["message"]
    assert batch_row(db, batch_id).status == "completed"  # the other row completed


def test_permanent_errors_fail_only_their_row(db: Database, make_user: MakeUser, tmp_path: Path) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 2, model=ECHO_MODEL, contents=["[[fail:permanent]]", "fine"])
    run_worker(db, echo_settings(tmp_path, db.url), EchoEngine(ECHO_MODEL), until=finished(db, batch_id))
    bad, good = item_rows(db, batch_id)
    assert bad.status == "failed" and bad.attempts == 1
    assert json.loads(bad.error) == {"code": "invalid_request", "message": "the echo engine was asked to fail"}
    assert good.status == "completed"
    assert json.loads(good.result)["text"] == "echo: fine"


def test_a_request_still_running_at_its_deadline_expires(db: Database, make_user: MakeUser, tmp_path: Path) -> None:
    user, _ = make_user("ann")
    words = " ".join(["word"] * 200)
    batch_id, _ = seed_batch(db, user, 1, model=ECHO_MODEL, deadline=now() + 1.0, contents=[words])
    settings = echo_settings(tmp_path, db.url, lease_seconds=0.6)
    run_worker(db, settings, EchoEngine(ECHO_MODEL, token_delay=0.05), until=finished(db, batch_id))
    (row,) = item_rows(db, batch_id)
    assert row.status == "expired" and json.loads(row.error)["code"] == "batch_expired"
    batch = batch_row(db, batch_id)
    assert batch.status == "failed" and json.loads(batch.error)["code"] == "batch_expired"
    assert_counters_match(db, batch_id)


def test_an_item_taken_away_is_aborted_and_its_result_discarded(
    db: Database, make_user: MakeUser, tmp_path: Path
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 1, model=ECHO_MODEL, contents=[" ".join(["w"] * 100)])
    engine = EchoEngine(ECHO_MODEL, token_delay=0.05)
    settings = echo_settings(tmp_path, db.url, lease_seconds=0.6)

    def cancel_once_running() -> bool:
        if batch_row(db, batch_id).running_count == 1:
            with db.write() as conn:
                queue.cancel(
                    conn,
                    queue.Scope(batch_id=batch_id),
                    statuses=ACTIVE_ITEM_STATUSES,
                    error=ItemError("batch_cancelled", "cancelled by the test"),
                    now=now(),
                )
            return True
        return False

    run_worker(db, settings, engine, until=cancel_once_running)
    (row,) = item_rows(db, batch_id)
    assert row.status == "cancelled" and row.result is None


def test_stopping_hands_unfinished_items_back(db: Database, make_user: MakeUser, tmp_path: Path) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 4, model=ECHO_MODEL, contents=[" ".join(["w"] * 200)] * 4)
    engine = EchoEngine(ECHO_MODEL, token_delay=0.05)
    run_worker(db, echo_settings(tmp_path, db.url), engine, until=lambda: batch_row(db, batch_id).running_count == 4)
    rows = item_rows(db, batch_id)
    assert [r.status for r in rows] == ["queued"] * 4
    assert all(r.attempts == 0 and r.lease_owner is None for r in rows)
    assert_counters_match(db, batch_id)


def test_capacity_bounds_what_one_worker_claims(db: Database, make_user: MakeUser, tmp_path: Path) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 50, model=ECHO_MODEL, contents=[" ".join(["w"] * 40)] * 50)
    engine = EchoEngine(ECHO_MODEL, slots=3, token_delay=0.01)
    run_worker(db, echo_settings(tmp_path, db.url), engine, until=finished(db, batch_id))
    assert engine.peak_in_flight == engine.capacity  # kept full, never overfilled
    assert batch_row(db, batch_id).status == "completed"
    assert_counters_match(db, batch_id)


def test_claims_wait_for_results_to_be_recorded(
    db: Database, make_user: MakeUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store slow to record (here: each write of results waits 50 ms before it starts, without
    holding the writer lock, so claims could go on) holds claims back: finished-but-unrecorded
    results and their leases never pile up beyond a bound."""
    user, _ = make_user("ann")
    n = 4000
    batch_id, _ = seed_batch(db, user, n, model=ECHO_MODEL, contents=["w"] * n)
    engine = EchoEngine(ECHO_MODEL, slots=64)
    record = Worker._record

    def slow_record(self: Worker, outcomes: list[queue.Outcome]) -> None:
        time.sleep(0.05)
        record(self, outcomes)

    monkeypatch.setattr(Worker, "_record", slow_record)
    peak = 0

    def done() -> bool:
        nonlocal peak
        batch = batch_row(db, batch_id)
        peak = max(peak, batch.running_count)
        return bool(batch.status == "completed")

    run_worker(db, echo_settings(tmp_path, db.url), engine, until=done, timeout=120)
    assert peak <= engine.capacity + UNRECORDED_MAX + FLUSH_MAX, peak
    assert_counters_match(db, batch_id)
