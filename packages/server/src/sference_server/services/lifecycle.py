"""The request lifecycle's one way in and one way out.

Every entry point (inline batches, OpenAI batches, responses, stream items, interactive chat and
responses) checks a body with ``validate``, queues work with ``enqueue``/``enqueue_batch`` and
stops it with ``cancel(scope)``. This service owns the wake-up signals: workers hear about new
work, feed consumers and waiting clients about new completion events, after the commit.

    submit -> validate -> enqueue (items, queued) -> worker claims -> engine -> outcome recorded
           -> completion event -> rendered by each surface (render/)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from ..catalog import ModelCatalog
from ..domain.chat import FieldError, check_limits, model_not_served, normalise_chat_body
from ..domain.outcome import ItemError
from ..domain.states import ACTIVE_ITEM_STATUSES, IllegalTransition, ItemStatus, Priority
from ..domain.windows import BATCH_WINDOWS
from ..ids import uuid7
from ..live import LiveText
from ..notify import Signal
from ..security.principal import Principal
from ..store import batches as batch_store
from ..store import items as item_store
from ..store import queue
from ..store.changes import CANCELS_CHANNEL, WORK_CHANNEL, announce
from ..store.database import Database, Tx
from ..store.items import NewItem
from ..store.records import Batch, Item
from ..timeutil import now
from .batch_rows import ParsedBatch


class Lifecycle:
    def __init__(
        self,
        db: Database,
        catalog: ModelCatalog,
        work_signal: Signal,
        events_signal: Signal,
        live: LiveText | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.work_signal = work_signal
        self.events_signal = events_signal
        self.live = live or LiveText()

    # -- validate --------------------------------------------------------------------------------

    def validate(
        self, body: Any, *, context: str = "", allow_background: bool = False, allow_stream: bool = False
    ) -> tuple[dict[str, Any] | None, list[FieldError]]:
        """The body in normalised chat shape, or every problem found (each with its field path)."""
        chat, problems = normalise_chat_body(
            body, context=context, allow_background=allow_background, allow_stream=allow_stream
        )
        if chat is not None:
            problems += self.model_problems(chat, context=context)
        return (chat if not problems else None), problems

    def model_problems(self, chat: dict[str, Any], *, context: str) -> list[FieldError]:
        """Is the model served here, and does the request fit its limits?"""
        limits = self.catalog.limits(chat["model"])
        if limits is None:
            return [model_not_served(chat["model"], self.catalog.describe_served(), context=context)]
        return check_limits(chat, limits, context=context)

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
        item_id = item_id or uuid7()
        with self.db.write() as tx:
            if before_insert is not None:
                window_seconds = before_insert(tx, accepted) or window_seconds
            new = NewItem(
                id=item_id,
                user_id=who.user_id,
                model=chat["model"],
                body=json.dumps(chat, separators=(",", ":")),
                deadline=accepted + window_seconds,
                created_at=accepted,
                priority=priority,
                stream_id=stream_id,
                custom_id=custom_id,
                metadata=metadata,
            )
            self._insert(tx, iter([new]))
            item = item_store.get_item(tx, item_id)
        assert item is not None
        self.work_signal.fire()
        return item

    def enqueue_batch(
        self, who: Principal, parsed: ParsedBatch, *, also: Callable[[Tx, str], None] | None = None
    ) -> Batch:
        """Queue a validated batch and its rows in one transaction (``also`` adds to it)."""
        batch_id = uuid7()
        accepted = now()
        deadline = accepted + BATCH_WINDOWS[parsed.window]
        with self.db.write() as tx:
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
            self._insert(tx, rows)
            if also is not None:
                also(tx, batch_id)
            batch = batch_store.get_batch(tx, batch_id)
        assert batch is not None
        self.work_signal.fire()
        return batch

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
        """Cancel the scope's items in ``statuses``; how many were. A batch scope also marks the
        batch cancelled and raises ``IllegalTransition`` if it finished first (nothing changes).
        A cancelled single item stops at once on the worker running it (batch and stream items
        stop at the worker's next lease renewal)."""
        with self.db.write() as tx:
            cancelled = queue.cancel(tx, scope, statuses=statuses, error=error, now=now())
            if cancelled and scope.item_id is not None:
                announce(tx, CANCELS_CHANNEL, scope.item_id)
        if cancelled and scope.item_id is not None:
            self.live.cancelled([scope.item_id])
        if cancelled or scope.batch_id is not None:
            self.events_signal.fire()
        return cancelled

    def cancel_batch(self, batch_id: str, error: ItemError) -> bool:
        """False when the batch finished before the cancel could."""
        try:
            self.cancel(queue.Scope(batch_id=batch_id), error)
        except IllegalTransition:
            return False
        return True
