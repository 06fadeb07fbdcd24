"""The worker: claim -> run -> record, keeping every engine's slots full.

One asyncio loop per worker. Per engine it keeps up to ``engine.capacity`` items in flight and
claims more as soon as a quarter of that frees up, so the engine always has a backlog to refill
slots from. Outcomes are written by one flusher that groups whatever has accumulated into one
transaction. A heartbeat renews the leases; an item that is no longer this worker's (cancelled,
expired, reclaimed) is aborted in the engine. A sweeper puts items of vanished workers back in the
queue and expires overdue ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .. import logs, metrics
from ..config import Settings
from ..domain.decisions import DecisionRequest
from ..domain.states import ItemStatus, Priority
from ..engines.base import ChatRequest, EmbeddingRequest, Engine, EngineError, TextSink
from ..ids import uuid7
from ..live import LiveText, Piece
from ..notify import Signal
from ..retry import Backoff
from ..store import queue
from ..store.database import Database
from ..store.sweep import sweep
from ..timeutil import now
from . import results

log = logging.getLogger("sference.worker")

FLUSH_MAX = 256
# Results finished but not yet written, beyond which the worker claims nothing new (only interactive
# requests): claims must not outrun what the store can record, or unrecorded results (and their
# leases) pile up in memory.
UNRECORDED_MAX = 4 * FLUSH_MAX
STORE_RETRY_MAX_SECONDS = 5.0  # the longest wait between attempts while the store is away


class Abort(Enum):
    LOST = "lost"  # the item is no longer ours: write nothing
    EXPIRED = "expired"  # its deadline passed while it ran
    SHUTDOWN = "shutdown"  # we are stopping: hand it back


@dataclass
class _InFlight:
    item: queue.ClaimedItem
    task: asyncio.Task[None]
    abort: Abort | None = None


def _able(engine: Engine, method: str) -> Any:
    """The engine, if it has ``method`` (an embedding or decision engine); else a permanent error
    (the API checks a model's modality at submit time, so this means the registry changed)."""
    if not hasattr(engine, method):
        message = f"model {engine.model_id!r} cannot {method}: its engine does not offer it"
        raise EngineError("unsupported", message, transient=False)
    return engine


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid7()[-8:]}"


class Worker:
    def __init__(
        self,
        db: Database,
        engines: Mapping[str, Engine],
        settings: Settings,
        *,
        worker_id: str | None = None,
        work_signal: Signal | None = None,
        events_signal: Signal | None = None,
        live: LiveText | None = None,
    ) -> None:
        self.db = db
        self.engines = dict(engines)
        self.settings = settings
        self.worker_id = worker_id or settings.worker_id or default_worker_id()
        self.work_signal = work_signal
        self.events_signal = events_signal
        self.live = live
        self._inflight: dict[str, _InFlight] = {}
        self._models: dict[str, str] = {}  # item id -> model, from its claim until its outcome is written
        self._outcomes: asyncio.Queue[queue.Outcome] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._new_work = asyncio.Event()  # set by the work signal: maybe an interactive request
        self._urgent_checked = 0.0
        self._pending_writes = 0
        self._store_errors: dict[str, str] = {}  # what failed -> why, until it works again

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        """Work until ``stop`` is set (or, with ``burst``, until the queue is empty)."""
        if self.work_signal is not None:
            self.work_signal.subscribe(self._wake)
            self.work_signal.subscribe(self._new_work)
        loop = asyncio.get_running_loop()

        def on_cancel(item_ids: list[str]) -> None:  # any thread
            loop.call_soon_threadsafe(self._abort_lost, item_ids)

        if self.live is not None:
            self.live.on_cancel(on_cancel)
        helpers = [
            asyncio.create_task(self._flusher(), name="flusher"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._sweeper(), name="sweeper"),
        ]
        log.info("worker %s serving %s", self.worker_id, ", ".join(self.engines))
        try:
            await self._claim_loop(stop, burst)
        finally:
            await self._shutdown()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if self.work_signal is not None:
                self.work_signal.unsubscribe(self._wake)
                self.work_signal.unsubscribe(self._new_work)
            if self.live is not None:
                self.live.off_cancel(on_cancel)

    # -- claiming ---------------------------------------------------------------------------

    async def _claim_loop(self, stop: asyncio.Event, burst: bool) -> None:
        stop_wait = asyncio.create_task(stop.wait())
        backoff = Backoff(self.settings.poll_seconds, STORE_RETRY_MAX_SECONDS)
        try:
            while not stop.is_set():
                self._wake.clear()
                claimed_full = False
                try:
                    for model, engine in self.engines.items():
                        claimed, wanted = await self._claim_for(model, engine)
                        claimed_full |= wanted > 0 and claimed == wanted
                    if claimed_full:
                        self._store_ok("claim")
                        continue
                    if burst and not self._inflight and await self._drained():
                        return
                    self._store_ok("claim")
                    timeout = self.settings.poll_seconds
                except Exception as exc:  # the store is away (restart, failover): keep trying
                    self._store_failed("claim", exc)
                    timeout = backoff.next()
                else:
                    backoff.reset()
                wake = asyncio.create_task(self._wake.wait())
                await asyncio.wait({wake, stop_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
        finally:
            stop_wait.cancel()

    async def _claim_for(self, model: str, engine: Engine) -> tuple[int, int]:
        """Claim interactive work whenever some may have arrived, even beyond the engine's
        capacity (the engine runs it first); claim queued work to keep the engine full."""
        if self._look_for_urgent():
            self._start(engine, await asyncio.to_thread(self._claim, model, engine.capacity, Priority.INTERACTIVE))
        if self._unrecorded() >= UNRECORDED_MAX:
            return 0, 0  # the flusher wakes the loop when it has caught up
        busy = sum(1 for f in self._inflight.values() if f.item.model == model)
        free = engine.capacity - busy
        if free <= 0 or (busy and free < max(1, engine.capacity // 4)):
            return 0, 0
        claimed = await asyncio.to_thread(self._claim, model, free, None)
        self._start(engine, claimed)
        return len(claimed), free

    def _unrecorded(self) -> int:
        return self._outcomes.qsize() + self._pending_writes

    def _look_for_urgent(self) -> bool:
        """After a new-work signal, or at least every poll interval."""
        due = self._new_work.is_set() or now() - self._urgent_checked >= self.settings.poll_seconds
        if due:
            self._new_work.clear()
            self._urgent_checked = now()
        return due

    def _start(self, engine: Engine, claimed: list[queue.ClaimedItem]) -> None:
        for item in claimed:
            task = asyncio.create_task(self._run_item(item, engine), name=f"item-{item.id}")
            self._inflight[item.id] = _InFlight(item, task)
            self._models[item.id] = item.model
        if claimed:
            metrics.CLAIMED.labels(claimed[0].model).inc(len(claimed))  # one model per claim

    def busy(self) -> dict[str, int]:
        """Items running now, by model."""
        counts = dict.fromkeys(self.engines, 0)
        for flight in self._inflight.values():
            counts[flight.item.model] = counts.get(flight.item.model, 0) + 1
        return counts

    def _claim(self, model: str, limit: int, max_priority: int | None) -> list[queue.ClaimedItem]:
        with self.db.write() as conn:
            return queue.claim(
                conn,
                worker_id=self.worker_id,
                models=[model],
                limit=limit,
                lease_seconds=self.settings.lease_seconds,
                now=now(),
                max_priority=max_priority,
                urgent_seconds=self.settings.urgent_seconds,
            )

    async def _drained(self) -> bool:
        if self._pending_writes or not self._outcomes.empty():
            return False

        def check() -> bool:
            with self.db.read() as conn:
                return not queue.has_queued(conn, list(self.engines))

        return await asyncio.to_thread(check)

    # -- running ----------------------------------------------------------------------------

    async def _run_item(self, item: queue.ClaimedItem, engine: Engine) -> None:
        # Each item runs in a task of its own, so the ids bound here are on its lines only.
        with logs.bound(item_id=item.id, batch_id=item.batch_id, stream_id=item.stream_id):
            outcome = await self._outcome_of(item, engine)
        if outcome is not None:
            self._outcomes.put_nowait(outcome)
        else:
            self._models.pop(item.id, None)

    async def _outcome_of(self, item: queue.ClaimedItem, engine: Engine) -> queue.Outcome | None:
        outcome: queue.Outcome | None
        started = now()
        try:
            outcome = await self._run(item, engine, started)
        except EngineError as exc:
            outcome = results.engine_failure(
                item,
                exc,
                now=now(),
                max_attempts=self.settings.max_attempts,
                base_delay=self.settings.retry_base_seconds,
                max_delay=self.settings.retry_max_seconds,
            )
            what = "will retry" if outcome.status == ItemStatus.QUEUED else "failed"
            log.info("engine error %s (attempt %d, %s): %s", exc.code, item.attempts, what, exc.message)
        except asyncio.CancelledError:
            reason = self._inflight[item.id].abort if item.id in self._inflight else None
            outcome = {Abort.EXPIRED: results.expired(item), Abort.SHUTDOWN: results.released(item)}.get(
                reason  # type: ignore[arg-type]
            )
        except Exception as exc:  # a bug in an engine must fail the item, not the worker
            log.exception("the engine call crashed")
            outcome = results.crashed(item, exc)
        finally:
            self._inflight.pop(item.id, None)
            self._wake.set()
        return outcome

    async def _run(self, item: queue.ClaimedItem, engine: Engine, started: float) -> queue.Outcome:
        """Ask the engine what the item's body asks: chat (the default), embeddings or decisions."""
        body = json.loads(item.body)
        urgent = item.priority == Priority.INTERACTIVE
        operation = body.get("operation")
        if operation == "embeddings":
            embedded = await _able(engine, "embed").embed(EmbeddingRequest.from_body(body), urgent=urgent)
            return results.embedded(item, embedded, started=started, finished=now())
        if operation == "decisions":
            decided = await _able(engine, "decide").decide(DecisionRequest.from_body(body), urgent=urgent)
            return results.decided(item, decided, started=started, finished=now())
        request = ChatRequest.from_body(body)
        on_text = self._relay_text(item.id) if request.stream else None
        result = await engine.generate(request, urgent=urgent, on_text=on_text)
        return results.completed(item, result, started=started, finished=now())

    def _relay_text(self, item_id: str) -> TextSink | None:
        """Where the engine sends a streamed answer's text: to the API connection reading it."""
        live = self.live
        if live is None:
            return None
        sent = 0

        def send(text: str) -> None:  # any thread; the engine calls it in order
            nonlocal sent
            live.publish(Piece(item_id, sent, text))
            sent += len(text)

        return send

    def _abort_lost(self, item_ids: list[str]) -> None:
        """Items cancelled elsewhere (a client went away): stop running them now."""
        for item_id in item_ids:
            self._abort(item_id, Abort.LOST)

    def _abort(self, item_id: str, reason: Abort) -> None:
        flight = self._inflight.get(item_id)
        if flight is not None and flight.abort is None:
            flight.abort = reason
            flight.task.cancel()

    # -- writing ----------------------------------------------------------------------------

    async def _flusher(self) -> None:
        """Write outcomes as they come; while the store is away, keep them and retry (a write
        that committed before its connection broke is refused the second time by the lease
        guard, so nothing is recorded twice)."""
        backoff = Backoff(0.1, STORE_RETRY_MAX_SECONDS)
        while True:
            batch = [await self._outcomes.get()]
            while len(batch) < FLUSH_MAX and not self._outcomes.empty():
                batch.append(self._outcomes.get_nowait())
            self._pending_writes = len(batch)
            try:
                await asyncio.to_thread(self._record, batch)
            except Exception as exc:
                self._store_failed("record outcomes", exc)
                for outcome in batch:
                    self._outcomes.put_nowait(outcome)
                await asyncio.sleep(backoff.next())
            else:
                self._store_ok("record outcomes")
                backoff.reset()
            finally:
                self._pending_writes = 0
                self._wake.set()  # claims may have waited for this write

    def _record(self, outcomes: list[queue.Outcome]) -> None:
        prepared = queue.prepare_outcomes(outcomes, worker_id=self.worker_id, now=now())
        with self.db.write() as conn:
            accepted = queue.record_prepared(conn, prepared)
        self._announce_events()
        self._count(outcomes, accepted)
        if len(accepted) < len(outcomes):
            log.info("%d results discarded: their items were cancelled or reclaimed", len(outcomes) - len(accepted))

    def _count(self, outcomes: list[queue.Outcome], accepted: set[str]) -> None:
        """Count what was written (a result refused as no longer ours is not counted): summed per
        label set first, so a flush of hundreds of results touches each metric a few times."""
        finished: Counter[tuple[str, str, str]] = Counter()
        retried: Counter[tuple[str, str]] = Counter()
        tokens: Counter[tuple[str, str]] = Counter()
        for outcome in outcomes:
            model = self._models.pop(outcome.item_id, "")
            if outcome.item_id not in accepted:
                continue
            code = outcome.error.code if outcome.error is not None else ""
            if outcome.status == ItemStatus.QUEUED:
                if outcome.error is not None:  # a transient error (else a hand-back at shutdown)
                    retried[model, code] += 1
                continue
            finished[model, outcome.status.value, code] += 1
            usage = outcome.usage
            tokens[model, "input"] += usage.prompt_tokens
            tokens[model, "output"] += usage.completion_tokens
            tokens[model, "cached"] += usage.cached_tokens
        for labels, n in finished.items():
            metrics.FINISHED.labels(*labels).inc(n)
        for pair, n in retried.items():
            metrics.RETRIED.labels(*pair).inc(n)
        for pair, n in tokens.items():
            if n:
                metrics.TOKENS.labels(*pair).inc(n)

    # -- leases and housekeeping ------------------------------------------------------------

    async def _heartbeat(self) -> None:
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            flights = set(self._inflight)  # items claimed from now on are not in this renewal
            try:
                held = await asyncio.to_thread(self._extend, sorted(flights))
            except Exception as exc:
                self._store_failed("renew leases", exc)
                continue
            self._store_ok("renew leases")
            current = now()
            for item_id, flight in list(self._inflight.items()):
                if item_id in flights and item_id not in held:
                    self._abort(item_id, Abort.LOST)
                elif flight.item.deadline <= current:
                    self._abort(item_id, Abort.EXPIRED)

    def _extend(self, item_ids: list[str]) -> set[str]:
        if not item_ids:
            return set()
        with self.db.write() as conn:
            return queue.extend_leases(
                conn, worker_id=self.worker_id, item_ids=item_ids, lease_seconds=self.settings.lease_seconds
            )

    async def _sweeper(self) -> None:
        while True:
            try:
                report = await asyncio.to_thread(
                    sweep, self.db, max_attempts=self.settings.max_attempts, on_events=self._announce_events
                )
            except Exception as exc:
                self._store_failed("sweep", exc)
            else:
                self._store_ok("sweep")
                metrics.count_ended(report.ended)
                if report:
                    log.info("sweep: %s", report)
                    self._wake.set()
                    self._announce_events()
            await asyncio.sleep(self.settings.sweep_seconds)

    # -- the store's health -----------------------------------------------------------------

    def _store_failed(self, what: str, exc: Exception) -> None:
        """Log the first failure of each kind until it recovers (not one traceback per poll)."""
        if what not in self._store_errors:
            log.warning("store unavailable (%s): %s: %s; retrying", what, type(exc).__name__, exc)
        self._store_errors[what] = f"{type(exc).__name__}: {exc}"

    def _store_ok(self, what: str) -> None:
        if self._store_errors.pop(what, None) is not None:
            log.info("store reachable again (%s)", what)

    @property
    def store_problem(self) -> str | None:
        """Why the worker cannot use the store right now, or None (readiness reports it)."""
        return next(iter(self._store_errors.values()), None)

    def _announce_events(self) -> None:
        if self.events_signal is not None:
            self.events_signal.fire()

    async def _shutdown(self) -> None:
        log.info("worker %s stopping; handing back %d unfinished requests", self.worker_id, len(self._inflight))
        for item_id in list(self._inflight):
            self._abort(item_id, Abort.SHUTDOWN)
        tasks = [f.task for f in self._inflight.values()]
        await asyncio.gather(*tasks, return_exceptions=True)
        # Give the flusher a moment to write what we know; anything left is reclaimed later.
        deadline = now() + 30.0
        while (not self._outcomes.empty() or self._pending_writes) and now() < deadline:
            await asyncio.sleep(0.05)
