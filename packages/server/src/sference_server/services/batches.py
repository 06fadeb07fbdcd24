"""Batches: create, read, list, cancel, results. No web framework in here."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from ..config import Settings
from ..domain.estimates import feasible
from ..domain.states import TERMINAL_BATCH_STATUSES, TERMINAL_ITEM_STATUSES, BatchStatus, ItemStatus
from ..domain.windows import BATCH_WINDOWS
from ..errors import Conflict, NotFound
from ..security.principal import Principal
from ..store import batches as store
from ..store import items as item_store
from ..store.database import Database, Tx
from ..store.records import Batch, Item, ResultRow
from ..timeutil import iso, now
from .batch_ingest import parse_batch
from .batch_rows import ParsedBatch
from .estimates import Estimates
from .idempotency import Idempotency
from .lifecycle import Lifecycle

RESULTS_PAGE = 500


@dataclass(frozen=True)
class Submitted:
    """A batch as queued, with its completion estimate (None: unknown) at submission."""

    batch: Batch
    estimate: float | None

    @property
    def feasible(self) -> bool | None:
        return feasible(self.estimate, self.batch.deadline)


class BatchService:
    def __init__(self, db: Database, settings: Settings, lifecycle: Lifecycle, estimates: Estimates) -> None:
        self.db = db
        self.settings = settings
        self.lifecycle = lifecycle
        self.estimates = estimates
        self.idempotency = Idempotency(db)

    def create(self, who: Principal, document: IO[bytes], *, idempotency_key: str | None = None) -> Submitted:
        """Queue the batch ``document`` describes; a repeated ``idempotency_key`` answers the batch
        its first use made, without reading the document. A document that says
        ``require_feasible`` is refused (Conflict, nothing written) when the estimate misses the
        window; an unknown estimate does not refuse."""

        def make(record: Callable[[Tx, str], None] | None) -> Submitted:
            parsed = parse_batch(
                document, validate=self.lifecycle.validate, max_requests=self.settings.max_batch_requests
            )
            try:
                estimate = self._estimate_new(who, parsed)
                return Submitted(self.lifecycle.enqueue_batch(who, parsed, also=record), estimate)
            finally:
                parsed.close()

        def found(batch_id: str) -> Submitted:
            batch = self.get(who, batch_id)
            return Submitted(batch, self.estimates.batch(batch))

        return self.idempotency.submit(who, "batches", idempotency_key, make=make, found=found)

    def _estimate_new(self, who: Principal, parsed: ParsedBatch) -> float | None:
        window = BATCH_WINDOWS[parsed.window]
        deadline = now() + window
        estimate = self.estimates.new_batch(
            who, model=parsed.model, count=parsed.count, window=window, deadline=deadline
        )
        if parsed.require_feasible and feasible(estimate, deadline) is False:
            raise Conflict(
                f"the batch is estimated to finish at {iso(estimate)}, after its {parsed.window} window ends at "
                f"{iso(deadline)} (require_feasible is true; nothing was queued)",
                extra=[
                    {"loc": "require_feasible", "message": "the estimate misses the window"},
                ],
            )
        return estimate

    def get(self, who: Principal, batch_id: str) -> Batch:
        with self.db.read() as tx:
            batch = store.get_batch(tx, batch_id, user_id=who.user_id)
        if batch is None:
            raise NotFound(f"no batch with id {batch_id!r}")
        return batch

    def list(self, who: Principal, *, limit: int, before: str | None) -> list[Batch]:
        """Newest first, ``limit + 1`` of them (the extra one says more exist)."""
        with self.db.read() as tx:
            return store.list_batches(tx, user_id=who.user_id, limit=limit + 1, before=before)

    def cancel(self, who: Principal, batch_id: str) -> Batch:
        batch = self.get(who, batch_id)
        if batch.status == BatchStatus.CANCELLED:
            return batch
        if batch.status in TERMINAL_BATCH_STATUSES:
            raise Conflict(
                f"batch {batch_id} is already {batch.status}; only pending or running batches can be cancelled"
            )
        # False: it finished between our read and the write; report how it ended.
        self.lifecycle.cancel_batch(batch_id)
        return self.get(who, batch_id)

    def iter_rows(self, batch_id: str) -> Iterator[ResultRow]:
        """The batch's finished rows in input order, as its results lines need them, a page of
        the store at a time."""
        return item_store.iter_result_rows(self.db, batch_id, statuses=TERMINAL_ITEM_STATUSES, page=RESULTS_PAGE)

    def problem_rows(self, batch_id: str, *, limit: int) -> Sequence[Item]:
        """The first rows that failed or expired, in input order (for the console)."""
        with self.db.read() as tx:
            return item_store.batch_rows(
                tx, batch_id, statuses=(ItemStatus.FAILED, ItemStatus.EXPIRED), after_index=-1, limit=limit
            )
