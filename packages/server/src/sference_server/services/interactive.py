"""Requests a client waits for on the connection (chat completions, blocking responses).

They are items like any other, with the interactive priority: workers claim them even when full
and the engine runs them ahead of queued work (taking a slot from the youngest queued sequence if
need be), so one returns in about the time the engine needs for it, whatever batch is running.
The caller waits on the events signal (and re-checks every half second); a client that goes away
cancels its request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..domain.chat import MODEL_NOT_FOUND
from ..domain.outcome import ItemError
from ..domain.states import ACTIVE_ITEM_STATUSES, ErrorCode, ItemStatus, Priority
from ..errors import BadRequest, Conflict, NotFound, ServiceError, ServiceUnavailable
from ..security.principal import Principal
from ..store import items as item_store
from ..store.database import Database
from ..store.queue import Scope
from ..store.records import Item
from .lifecycle import Lifecycle

RECHECK_SECONDS = 0.5
INTERACTIVE_WINDOW = 3600.0


class GatewayTimeout(ServiceError):
    status_code = 504


class Interactive:
    def __init__(self, db: Database, lifecycle: Lifecycle, timeout: float) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.timeout = timeout

    def validate(self, body: Any) -> dict[str, Any]:
        chat, problems = self.lifecycle.validate(body, allow_stream=True, allow_background=True)
        unknown = next((p for p in problems if p.code == MODEL_NOT_FOUND), None)
        if unknown is not None:
            served = self.lifecycle.catalog.describe_served()
            raise BadRequest(
                f"The model {body['model']!r} does not exist here; served models: {served}",
                extra=[{"loc": "model", "message": MODEL_NOT_FOUND}],
            )
        if problems or chat is None:
            raise BadRequest(
                "; ".join(str(p) for p in problems), extra=[{"loc": p.field, "message": p.message} for p in problems]
            )
        return chat

    def submit(
        self,
        who: Principal,
        chat: dict[str, Any],
        *,
        priority: Priority = Priority.INTERACTIVE,
        metadata: dict[str, Any] | None = None,
    ) -> Item:
        return self.lifecycle.enqueue(
            who, chat, window_seconds=INTERACTIVE_WINDOW, priority=priority, metadata=metadata
        )

    def get(self, who: Principal, item_id: str) -> Item:
        with self.db.read() as tx:
            item = item_store.get_item(tx, item_id, user_id=who.user_id)
        if item is None:
            raise NotFound(f"No response with id {item_id!r}")
        return item

    async def wait(self, who: Principal, item_id: str, *, gone: Callable[[], Awaitable[bool]]) -> Item:
        """The finished item; cancels it if the client disconnects or the wait times out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        woken = asyncio.Event()
        self.lifecycle.events_signal.subscribe(woken)
        try:
            while True:
                woken.clear()
                item = await anyio.to_thread.run_sync(self.get, who, item_id)
                if item.status not in ACTIVE_ITEM_STATUSES:
                    return item
                if await gone() or loop.time() >= deadline:
                    await anyio.to_thread.run_sync(self.cancel, item_id, "the client went away")
                    raise GatewayTimeout(f"the request did not finish within {self.timeout:g} s")
                try:
                    await asyncio.wait_for(woken.wait(), RECHECK_SECONDS)
                except TimeoutError:
                    pass
        finally:
            self.lifecycle.events_signal.unsubscribe(woken)

    def cancel(self, item_id: str, message: str) -> None:
        self.lifecycle.cancel(Scope(item_id=item_id), ItemError(ErrorCode.RESPONSE_CANCELLED, message))

    def cancel_response(self, who: Principal, item_id: str) -> Item:
        item = self.get(who, item_id)
        if item.status not in (*ACTIVE_ITEM_STATUSES, ItemStatus.CANCELLED):
            raise Conflict(f"response {item_id} already finished ({item.status})")
        self.cancel(item_id, "the response was cancelled before it finished")
        return self.get(who, item_id)


def raise_for_failure(item: Item) -> None:
    """A request that did not complete becomes the HTTP error a client expects."""
    if item.status == ItemStatus.COMPLETED:
        return
    error = item.error or ItemError(item.status.value, f"the request {item.status.value}")
    if error.code in (ErrorCode.CONTEXT_LENGTH_EXCEEDED, ErrorCode.INVALID_REQUEST):
        raise BadRequest(error.message, extra=[{"loc": "messages", "message": error.code}])
    raise ServiceUnavailable(f"{error.code}: {error.message}")
