"""Retrying a finished batch: a new batch of the rows that did not complete (failed, expired or
cancelled), and the results of a retry merged with those of the batches it retries.

A retry is an ordinary batch (same model and window, the window counted from now; the same
queue, limits and fair order), queued through ``Lifecycle.enqueue_batch`` after every row passed
the checks a submitted row passes. Its rows are the original's unfinished rows in input order,
with their request bodies and custom_ids, and ``retry_of`` names the original.

Merging relies on that order: a finished row never changes, so the ``n``-th row of a retry is the
``n``-th unfinished row of the batch it retries, whatever the custom_ids (they may be null).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence

from ..config import Settings
from ..domain.chat import FieldError
from ..domain.states import TERMINAL_BATCH_STATUSES, TERMINAL_ITEM_STATUSES, BatchStatus, ItemStatus
from ..errors import Conflict
from ..security.principal import Principal
from ..store import batches as store
from ..store import items as item_store
from ..store.database import Database, Tx
from ..store.records import Batch, Item, ResultRow
from .batch_rows import ParsedBatch, RowChecker, spill_file, spill_row
from .batches import RESULTS_PAGE, BatchService
from .lifecycle import Lifecycle

RETRIED_STATUSES = (ItemStatus.FAILED, ItemStatus.EXPIRED, ItemStatus.CANCELLED)
IDEMPOTENCY_SCOPE = "batch_retries"
# A merge reads a page of every batch of the chain at once; deep chains read smaller pages.
MIN_MERGE_PAGE = 50

_UNFINISHED = {
    BatchStatus.PENDING: "has not started",
    BatchStatus.RUNNING: "is still running",
    BatchStatus.CANCELLING: "is being cancelled",
}


class BatchRetries:
    def __init__(self, db: Database, settings: Settings, lifecycle: Lifecycle, batches: BatchService) -> None:
        self.db = db
        self.settings = settings
        self.lifecycle = lifecycle
        self.batches = batches

    def retry(self, who: Principal, batch_id: str, *, idempotency_key: str | None = None) -> Batch:
        """Queue the unfinished rows of the caller's finished batch ``batch_id`` as a new batch.
        NotFound for another user's batch; Conflict while it runs, or when every row completed.
        A repeated ``idempotency_key`` answers the retry its first use made."""

        def make(record: Callable[[Tx, str], None] | None) -> Batch:
            original = self._retryable(who, batch_id)
            parsed = self._rows(original)
            try:
                return self.lifecycle.enqueue_batch(who, parsed, also=record, retry_of=original.id)
            finally:
                parsed.close()

        return self.batches.idempotency.submit(
            who, IDEMPOTENCY_SCOPE, idempotency_key, make=make, found=lambda made: self.batches.get(who, made)
        )

    def _retryable(self, who: Principal, batch_id: str) -> Batch:
        batch = self.batches.get(who, batch_id)
        if batch.status not in TERMINAL_BATCH_STATUSES:
            raise Conflict(
                f"batch {batch_id} {_UNFINISHED.get(batch.status, 'is not finished')}; "
                "only a completed, failed or cancelled batch can be retried"
            )
        counts = batch.counts
        if counts.failed_count + counts.expired_count + counts.cancelled_count == 0:
            raise Conflict(
                f"batch {batch_id} has nothing to retry: all {counts.request_count} of its requests completed"
            )
        return batch

    def _rows(self, original: Batch) -> ParsedBatch:
        """The original's unfinished rows, checked again as a submitted batch's rows are (the
        model may be gone, or its limits changed since), spilled as a submission's are."""
        checker = RowChecker(self.lifecycle.validate, where=lambda index: f"row {index}")
        spill = spill_file()
        count = 0
        try:
            for item in item_store.iter_batch_rows(self.db, original.id, statuses=RETRIED_STATUSES, page=RESULTS_PAGE):
                count += 1
                if count > self.settings.max_batch_requests:
                    raise Conflict(
                        f"batch {original.id} has more rows to retry than a batch may hold "
                        f"({self.settings.max_batch_requests})"
                    )
                body, problems = checker.body(json.loads(item.body))
                if problems or body is None:
                    raise _refused(original, item, problems)
                spill_row(spill, item.custom_id, body)
        except BaseException:
            spill.close()
            raise
        spill.flush()
        return ParsedBatch(window=original.window, model=checker.model or original.model, count=count, rows=spill)

    def merged_rows(self, batch: Batch) -> Iterator[ResultRow]:
        """A results row for every finished row of the first batch of ``batch``'s chain of
        retries, in its input order, each the latest finished outcome of that request: a retry's
        row wins over the row it retries once it finished. A batch that retries nothing: its own
        rows."""
        with self.db.read() as tx:
            chain = store.retry_chain(tx, batch.id)
        page = max(MIN_MERGE_PAGE, RESULTS_PAGE // len(chain))
        first = item_store.iter_result_rows(self.db, chain[0], statuses=TERMINAL_ITEM_STATUSES, page=page)
        # Every row of the retries, queued and running ones too: they keep the rows aligned.
        retries = [item_store.iter_result_rows(self.db, b, statuses=tuple(ItemStatus), page=page) for b in chain[1:]]
        for row in first:
            yield _latest(row, retries)


def _refused(original: Batch, item: Item, problems: Sequence[FieldError]) -> Conflict:
    named = f"custom_id {item.custom_id!r}" if item.custom_id is not None else f"row {item.row_index}"
    reason = f"{problems[0].field}: {problems[0].message}" if problems else "its body is invalid"
    return Conflict(f"batch {original.id} cannot be retried: the request of {named} is refused: {reason}")


def _latest(row: ResultRow, retries: Sequence[Iterator[ResultRow]]) -> ResultRow:
    """``row``'s outcome after the retries: each retry holds the next row of the one before it
    that did not complete. Only the last retry may still be running (a batch is retried once it
    finished), so a row it has not finished ends the walk."""
    for rows in retries:
        if row.status not in RETRIED_STATUSES:
            break
        again = next(rows)
        assert again.custom_id == row.custom_id, "a retry holds the rows it retries in their order"
        if again.status not in TERMINAL_ITEM_STATUSES:
            break
        row = again
    return row
