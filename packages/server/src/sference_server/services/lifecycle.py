"""The request lifecycle's one way in and one way out.

Every entry point (inline batches, OpenAI batches, responses, stream items, interactive chat and
responses) checks a body with ``validate``, queues work with ``enqueue``/``enqueue_batch`` and
stops it with ``cancel(scope)``. This service owns the wake-up signals: workers hear about new
work, feed consumers and waiting clients about new completion events, after the commit.

    submit -> validate -> enqueue (items, queued) -> worker claims -> engine -> outcome recorded
           -> completion event -> rendered by each surface (render/)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..catalog import ModelCatalog
from ..compact_json import compact
from ..domain.chat import FieldError, Limits, check_limits, model_not_served, normalise_chat_body
from ..domain.decisions import normalise_decision_body
from ..domain.embeddings import normalise_embedding_body
from ..domain.endpoints import DECISIONS, ENDPOINT_OF_MODALITY, TEXT_EMBEDDING, TEXT_GENERATION
from ..domain.outcome import STREAM_CANCELLED, ItemError
from ..domain.states import ACTIVE_ITEM_STATUSES, BatchStatus, IllegalTransition, ItemStatus, Priority, StreamStatus
from ..domain.windows import BATCH_WINDOWS
from ..errors import ServiceError
from ..ids import uuid7
from ..live import LiveText
from ..notify import Signal
from ..security.principal import Principal
from ..store import batches as batch_store
from ..store import cancels, ingest, queue
from ..store import items as item_store
from ..store import streams as stream_store
from ..store.changes import CANCELS_CHANNEL, WORK_CHANNEL, announce
from ..store.database import Database, Tx
from ..store.group_commit import GroupCommit
from ..store.items import NewItem
from ..store.records import Batch, Item
from ..timeutil import now
from .batch_rows import ParsedBatch
from .queue_room import QueueRoom

log = logging.getLogger("sference.lifecycle")

# Rows of a batch written per transaction, and their bodies' bytes at most: well under a second
# of the writer lock (a small write waited 1.2 s behind 5,000 rows of 1 KB, bench/big_batch.py --pad 900).
INGEST_CHUNK = 5000
INGEST_CHUNK_BYTES = 2_000_000
# How long a cancel request cancels a batch's items itself before leaving the rest to the sweep.
CANCEL_IN_REQUEST_SECONDS = 2.0


@dataclass(frozen=True)
class _Submission:
    """One item to queue (``Lifecycle.enqueue``)."""

    who: Principal
    new: NewItem
    before_insert: Callable[[Tx, float], float | None] | None


class Lifecycle:
    def __init__(
        self,
        db: Database,
        catalog: ModelCatalog,
        work_signal: Signal,
        events_signal: Signal,
        live: LiveText | None = None,
        max_queued_items: int = 0,
    ) -> None:
        """``max_queued_items``: the default of the per-user limit on queued and running items
        (0: none); a user's own value (``users.max_queued_items``) wins."""
        self.db = db
        # Submissions of one item from many clients at once share a transaction and its
        # statements (store/group_commit.py).
        self.submissions = GroupCommit(db, self._write_submissions, order=lambda sub: sub.who.user_id)
        self.max_queued_items = max_queued_items
        self.catalog = catalog
        self.work_signal = work_signal
        self.events_signal = events_signal
        self.live = live or LiveText()

    # -- validate --------------------------------------------------------------------------------

    def validate(
        self,
        body: Any,
        *,
        context: str = "",
        allow_background: bool = False,
        allow_stream: bool = False,
        modality: str | None = None,
    ) -> tuple[dict[str, Any] | None, list[FieldError]]:
        """The body normalised, or every problem found (each with its field path). What the body
        must be follows from its model: a chat body for a text generation model, an embeddings
        body for an embedding model, a decisions body for a decisions model. ``modality``: what
        the endpoint asks (None: whatever the model is, as for a batch row)."""
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else ""
        served = self.catalog.modality(model)
        wanted = modality or served or TEXT_GENERATION
        if served is not None and served != wanted:
            message = f"model {model!r} is a {served} model ({ENDPOINT_OF_MODALITY[served]}), not a {wanted} model"
            return None, [FieldError("model", message).at(context)]
        limits = self.catalog.limits(model) if served is not None else None
        if wanted == TEXT_EMBEDDING:
            normalised, problems = normalise_embedding_body(body, context=context, limits=limits or Limits(0))
        elif wanted == DECISIONS:
            normalised, problems = normalise_decision_body(body, context=context)
        else:
            normalised, problems = normalise_chat_body(
                body, context=context, allow_background=allow_background, allow_stream=allow_stream
            )
        if normalised is not None:
            problems += self.model_problems(normalised, context=context, modality=wanted)
        return (normalised if not problems else None), problems

    def model_problems(
        self, body: dict[str, Any], *, context: str, modality: str = TEXT_GENERATION
    ) -> list[FieldError]:
        """Is the model served here, and does a chat request fit its limits?"""
        limits = self.catalog.limits(body["model"])
        if limits is None:
            return [model_not_served(body["model"], self.catalog.describe_served(modality), context=context)]
        return check_limits(body, limits, context=context) if modality == TEXT_GENERATION else []

    # -- enqueue ---------------------------------------------------------------------------------

    def enqueue(
        self,
        who: Principal,
        chat: dict[str, Any],
        *,
        window_seconds: float,
        priority: Priority = Priority.QUEUED,
        stream_id: str | None = None,
        custom_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        before_insert: Callable[[Tx, float], float | None] | None = None,
        item_id: str | None = None,
    ) -> Item:
        """Queue one request. ``before_insert(tx, accepted)`` runs first in the same transaction
        (a stream counts the item and may return another window, in seconds). ``item_id``: an id
        made beforehand (a streaming client subscribes to it before the worker can start)."""
        accepted = now()
        new = NewItem(
            id=item_id or uuid7(),
            user_id=who.user_id,
            model=chat["model"],
            body=compact(chat),
            deadline=accepted + window_seconds,
            created_at=accepted,
            priority=priority,
            stream_id=stream_id,
            custom_id=custom_id,
            metadata=metadata,
        )
        item = self.submissions.run(_Submission(who, new, before_insert))
        self.work_signal.fire()
        return item

    def _write_submissions(self, tx: Tx, submissions: Sequence[_Submission]) -> list[Item | Exception]:
        """Queue a group of submissions with one insert: each checked against its user's queue
        room, its ``before_insert`` in a savepoint (undone alone when it refuses)."""
        room = QueueRoom(tx, self.max_queued_items)
        refused: dict[int, Exception] = {}
        accepted: list[NewItem] = []
        for index, sub in enumerate(submissions):
            counted = False
            try:
                if sub.new.priority != Priority.INTERACTIVE:
                    room.take(sub.who, 1)
                    counted = True
                new = sub.new
                if sub.before_insert is not None:
                    with tx.begin_nested():
                        window = sub.before_insert(tx, new.created_at)
                    if window is not None:
                        new = replace(new, deadline=new.created_at + window)
            except ServiceError as exc:
                if counted:
                    room.give_back(sub.who, 1)
                refused[index] = exc
                continue
            accepted.append(new)
        if accepted:  # a group refused whole writes nothing and wakes no worker
            self._insert(tx, iter(accepted))
        written = item_store.get_items(tx, [new.id for new in accepted])
        return [refused[index] if index in refused else written[sub.new.id] for index, sub in enumerate(submissions)]

    def enqueue_batch(
        self,
        who: Principal,
        parsed: ParsedBatch,
        *,
        also: Callable[[Tx, str], None] | None = None,
        retry_of: str | None = None,
    ) -> Batch:
        """Queue a validated batch and its rows: the batch row (``ingesting``: invisible, nothing
        of it claimed), the rows (a big batch's held: out of the claims' reach) in transactions of
        ``INGEST_CHUNK`` rows or ``INGEST_CHUNK_BYTES`` (so other writers, such as workers'
        heartbeats, get the lock between them), then one transaction that makes it ``pending``
        (``also`` adds to that one), then a big batch's rows are released a chunk at a time
        (store/ingest.py).
        Fails whole until it is pending: what was written is deleted. ``retry_of``: the batch
        whose unfinished rows these are."""
        batch_id = uuid7()
        accepted = now()
        deadline = accepted + BATCH_WINDOWS[parsed.window]
        with self.db.write() as tx:
            QueueRoom(tx, self.max_queued_items).take(who, parsed.count)
            batch_store.insert_batch(
                tx,
                batch_store.NewBatch(
                    id=batch_id,
                    user_id=who.user_id,
                    model=parsed.model,
                    window=parsed.window,
                    created_at=accepted,
                    deadline=deadline,
                    request_count=parsed.count,
                    status=BatchStatus.INGESTING,
                    retry_of=retry_of,
                ),
            )
        rows = (
            NewItem(
                id=uuid7(),
                user_id=who.user_id,
                model=parsed.model,
                body=body,
                deadline=deadline,
                created_at=accepted,
                batch_id=batch_id,
                row_index=index,
                custom_id=custom_id,
            )
            for index, (custom_id, body) in enumerate(parsed.iter_rows())
        )
        held = ingest.holds(parsed.count)
        try:
            for chunk in _chunks(rows, INGEST_CHUNK, INGEST_CHUNK_BYTES):
                with self.db.write() as tx:
                    item_store.insert_items(tx, chunk, held=held)
                    ingest.touch(tx, batch_id, now=now())
            with self.db.write() as tx:
                still_held = ingest.publish(tx, batch_id, now=now(), held=held)
                announce(tx, WORK_CHANNEL)
                if also is not None:
                    also(tx, batch_id)
                batch = batch_store.get_batch(tx, batch_id)
        except BaseException:
            try:
                ingest.discard(self.db, batch_id)
            except Exception:  # the store is away: the sweep deletes the abandoned ingest later
                log.warning("could not delete the failed ingest of batch %s; the sweep will", batch_id, exc_info=True)
            raise
        assert batch is not None
        self.work_signal.fire()
        if still_held:
            self._release(batch_id)
        return batch

    def _release(self, batch_id: str) -> None:
        """Release a published batch's held rows. The batch is accepted whatever happens here: if
        the store goes away, the sweep releases the rest."""
        try:
            ingest.release(self.db, batch_id, on_chunk=self.work_signal.fire)
        except Exception:
            log.warning("could not release all rows of batch %s yet; the sweep will", batch_id, exc_info=True)

    @staticmethod
    def _insert(tx: Tx, new: Iterator[NewItem]) -> None:
        item_store.insert_items(tx, new)
        announce(tx, WORK_CHANNEL)

    # -- cancel ----------------------------------------------------------------------------------

    def cancel(
        self,
        scope: queue.Scope,
        error: ItemError,
        *,
        statuses: tuple[ItemStatus, ...] = ACTIVE_ITEM_STATUSES,
    ) -> int:
        """Cancel the scope's items in ``statuses`` (one item's, or a stream's: one transaction);
        how many were. A cancelled single item stops at once on the worker running it (stream
        items stop at the worker's next lease renewal). Batches: ``cancel_batch``."""
        with self.db.write() as tx:
            cancelled = queue.cancel(tx, scope, statuses=statuses, error=error, now=now())
            if cancelled and scope.item_id is not None:
                announce(tx, CANCELS_CHANNEL, scope.item_id)
        self._after_cancel(scope, cancelled)
        return cancelled

    def cancel_stream(self, stream_id: str) -> int:
        """Mark the stream cancelled and cancel its queued items, in one transaction (items first,
        then the stream row: the queue's lock order). Items already running finish. Raises
        ``IllegalTransition`` when the stream is not open."""
        scope = queue.Scope(stream_id=stream_id)
        with self.db.write() as tx:
            cancelled = queue.cancel(tx, scope, statuses=(ItemStatus.QUEUED,), error=STREAM_CANCELLED, now=now())
            stream_store.move_to(tx, stream_id, StreamStatus.CANCELLED, now=now())
        self._after_cancel(scope, cancelled)
        return cancelled

    def _after_cancel(self, scope: queue.Scope, cancelled: int) -> None:
        if cancelled and scope.item_id is not None:
            self.live.cancelled([scope.item_id])
        if cancelled:
            self.events_signal.fire()

    def cancel_batch(self, batch_id: str) -> bool:
        """Mark the batch ``cancelling`` (nothing more of it runs), then cancel its items chunk by
        chunk for up to ``CANCEL_IN_REQUEST_SECONDS``; a bigger batch is finished by the sweep
        (store/cancels.py) and reads as running until then. False when the batch finished first."""
        try:
            with self.db.write() as tx:
                batch_store.begin_cancel(tx, batch_id, now=now())
        except IllegalTransition as exc:
            if exc.old != BatchStatus.CANCELLING:
                return False  # it finished meanwhile
        cancels.cancel_batch_items(
            self.db, batch_id, budget_seconds=CANCEL_IN_REQUEST_SECONDS, on_chunk=self.events_signal.fire
        )
        self.events_signal.fire()  # a waiting client sees the batch's new status
        return True


def _chunks(rows: Iterable[NewItem], most: int, most_bytes: int) -> Iterator[list[NewItem]]:
    """``rows`` in lists of ``most`` rows, or fewer when their bodies reach ``most_bytes``."""
    chunk: list[NewItem] = []
    size = 0
    for row in rows:
        chunk.append(row)
        size += len(row.body)
        if len(chunk) >= most or size >= most_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
