"""Completion estimates of batches and streams, and whether a new batch fits its window
(docs/api.md, "Completion estimates"). Read from the store, so an API process that runs no
worker knows what the workers did; cached a few seconds, so clients polling a status cost one
set of reads per object and period, and the throughput one read per process and period."""

from __future__ import annotations

from collections.abc import Callable

from ..domain.estimates import Throughput, completion_at, measure
from ..domain.states import BatchStatus, ItemStatus, Priority, StreamStatus
from ..security.principal import Principal
from ..store import estimates as store
from ..store.database import Database, Tx
from ..store.records import Batch, Stream
from ..timeutil import now
from ..ttl_cache import TtlCache

SAMPLE_SECONDS = 600.0  # throughput is measured on requests completed in the last ten minutes
SAMPLE_EVENTS = 5000  # of the newest terminal events at most (a bounded read at any rate)
ESTIMATED_BATCH_STATUSES = (BatchStatus.PENDING, BatchStatus.RUNNING)

_ALL_MODELS = ""


class Estimates:
    def __init__(self, db: Database, *, urgent_seconds: float, cache_seconds: float) -> None:
        self.db = db
        self.urgent_seconds = urgent_seconds  # as the claim uses it (store/queue.py)
        self._throughput: TtlCache[str, dict[str, Throughput]] = TtlCache(ttl=cache_seconds, size=1)
        # (estimate,): a cached "unknown" is an entry too.
        self._estimates: TtlCache[str, tuple[float | None]] = TtlCache(ttl=cache_seconds, size=10_000)

    def batch(self, batch: Batch) -> float | None:
        """When a pending or running batch should finish (Unix seconds); None when it is
        finished, being cancelled, or its model has no recent throughput."""
        counts = batch.counts
        if batch.status not in ESTIMATED_BATCH_STATUSES or counts.queued_count + counts.running_count == 0:
            return None
        return self._cached(f"batch:{batch.id}", lambda tx: self._batch(tx, batch))

    def stream(self, stream: Stream) -> float | None:
        """When an open (or archived) stream's queued and running requests should have finished;
        None when it has none, was cancelled, or the model has no recent throughput."""
        counts = stream.counts
        if stream.status == StreamStatus.CANCELLED or counts.queued_count + counts.running_count == 0:
            return None
        return self._cached(f"stream:{stream.id}", lambda tx: self._stream(tx, stream))

    def new_batch(self, who: Principal, *, model: str, count: int, window: float, deadline: float) -> float | None:
        """When a batch of ``count`` requests queued now would finish: the work ahead of where its
        last request would go in the claim order, plus its own."""
        with self.db.read() as tx:
            throughput = self._measured(tx).get(model)
            if throughput is None:
                return None
            place = store.new_place(
                tx,
                user_id=who.user_id,
                model=model,
                priority=Priority.QUEUED,
                deadline=deadline,
                window=window,
                count=count,
            )
            current = now()
            work = store.running(tx, model) + store.queued_ahead(
                tx, place, now=current, urgent_seconds=self.urgent_seconds
            )
        return completion_at(current, work + count, throughput)

    def _batch(self, tx: Tx, batch: Batch) -> float | None:
        throughput = self._measured(tx).get(batch.model)
        if throughput is None:
            return None
        current = now()
        work = store.running(tx, batch.model)
        place = store.batch_place(tx, batch.id)
        if place is not None:  # else only running rows are left
            work += store.queued_ahead(tx, place, now=current, urgent_seconds=self.urgent_seconds)
        return completion_at(current, work, throughput)

    def _stream(self, tx: Tx, stream: Stream) -> float | None:
        newest = store.stream_newest_unfinished(tx, user_id=stream.user_id, stream_id=stream.id)
        if newest is None:
            return None
        throughput = self._measured(tx).get(newest.place.model)
        if throughput is None:
            return None
        current = now()
        work = store.running(tx, newest.place.model)
        if newest.status == ItemStatus.QUEUED:
            work += store.queued_ahead(tx, newest.place, now=current, urgent_seconds=self.urgent_seconds)
        return completion_at(current, work, throughput)

    def _cached(self, key: str, estimate: Callable[[Tx], float | None]) -> float | None:
        current = now()
        found = self._estimates.get(key, current)
        if found is not None:
            return found[0]
        with self.db.read() as tx:
            value = estimate(tx)
        self._estimates.put(key, (value,), current)
        return value

    def _measured(self, tx: Tx) -> dict[str, Throughput]:
        current = now()
        found = self._throughput.get(_ALL_MODELS, current)
        if found is None:
            found = measure(store.recent_finished(tx, since=current - SAMPLE_SECONDS, limit=SAMPLE_EVENTS))
            self._throughput.put(_ALL_MODELS, found, current)
        return found
