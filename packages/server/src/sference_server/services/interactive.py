"""Requests a client waits for on the connection (chat completions, blocking responses).

They are items like any other, with the interactive priority: workers claim them even when full
and the engine runs them ahead of queued work (taking a slot from the youngest queued sequence if
need be), so one returns in about the time the engine needs for it, whatever batch is running.
The caller waits on the events signal (and re-checks every half second); a client that goes away
cancels its request. A streaming client also reads the answer's text as the engine makes it
(live.py): ``start_stream`` subscribes before the request is queued, ``follow`` yields the text
and then the finished item.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import anyio

from ..domain.chat import MODEL_NOT_FOUND
from ..domain.endpoints import TEXT_GENERATION
from ..domain.outcome import ItemError
from ..domain.states import ACTIVE_ITEM_STATUSES, ErrorCode, ItemStatus, Priority
from ..errors import BadRequest, Conflict, NotFound, ServiceError, ServiceUnavailable
from ..ids import uuid7
from ..live import Subscription
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

    def validate(self, body: Any, *, modality: str = TEXT_GENERATION) -> dict[str, Any]:
        """The body normalised for a model of ``modality`` (a chat body by default), or a 400."""
        chat, problems = self.lifecycle.validate(body, allow_stream=True, allow_background=True, modality=modality)
        unknown = next((p for p in problems if p.code == MODEL_NOT_FOUND), None)
        if unknown is not None:
            served = self.lifecycle.catalog.describe_served(modality)
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
        item_id: str | None = None,
    ) -> Item:
        return self.lifecycle.enqueue(
            who, chat, window_seconds=INTERACTIVE_WINDOW, priority=priority, metadata=metadata, item_id=item_id
        )

    async def start_stream(
        self,
        who: Principal,
        chat: dict[str, Any],
        *,
        priority: Priority = Priority.INTERACTIVE,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[Item, Subscription]:
        """Queue a request whose text the worker relays as it is made, subscribed to that text."""
        item_id = uuid7()
        subscription = self.lifecycle.live.subscribe(item_id)
        try:
            item = await anyio.to_thread.run_sync(
                lambda: self.submit(
                    who, {**chat, "stream": True}, priority=priority, metadata=metadata, item_id=item_id
                )
            )
        except BaseException:
            self.lifecycle.live.unsubscribe(subscription)
            raise
        return item, subscription

    async def follow(
        self,
        who: Principal,
        subscription: Subscription,
        *,
        gone: Callable[[], Awaitable[bool]],
        timeout: float | None = None,
    ) -> AsyncGenerator[str | Item]:
        """The answer's new text as it comes, then the finished item. Cancels the request if the
        client goes away (or stops reading: the caller closes this) or the wait times out
        (``timeout`` seconds, default the service's: 504)."""
        item_id = subscription.item_id
        loop = asyncio.get_running_loop()
        timeout = self.timeout if timeout is None else timeout
        deadline = loop.time() + timeout
        self.lifecycle.events_signal.subscribe(subscription.woken)
        finished = False
        try:
            while True:
                subscription.woken.clear()
                item = await anyio.to_thread.run_sync(self.get, who, item_id)
                if item.status not in ACTIVE_ITEM_STATUSES:
                    finished = True
                    for rest in subscription.drain():
                        yield rest
                    yield item
                    return
                if await gone() or loop.time() >= deadline:
                    raise GatewayTimeout(
                        f"the request did not finish within {timeout:g} s and was cancelled; "
                        "send it with background: true and poll it instead"
                    )
                # Pass the text on until something finished (woken) or the re-check is due.
                recheck = loop.time() + RECHECK_SECONDS
                while text := await subscription.next(max(0.0, recheck - loop.time())):
                    yield text
                    if subscription.woken.is_set() or loop.time() >= recheck:
                        break
        finally:
            self.lifecycle.events_signal.unsubscribe(subscription.woken)
            self.lifecycle.live.unsubscribe(subscription)
            if not finished:  # the client went away, or stopped reading, or the wait timed out
                await asyncio.shield(anyio.to_thread.run_sync(self.cancel, item_id, "the client went away"))

    def get(self, who: Principal, item_id: str) -> Item:
        with self.db.read() as tx:
            item = item_store.get_item(tx, item_id, user_id=who.user_id)
        if item is None:
            raise NotFound(f"No response with id {item_id!r}")
        return item

    async def run(self, who: Principal, body: dict[str, Any], *, gone: Callable[[], Awaitable[bool]]) -> Item:
        """Queue a normalised body ahead of queued work and wait for it to finish (a failure is
        the HTTP error a client expects)."""
        item = await anyio.to_thread.run_sync(lambda: self.submit(who, body))
        item = await self.wait(who, item.id, gone=gone)
        raise_for_failure(item)
        return item

    async def wait(
        self, who: Principal, item_id: str, *, gone: Callable[[], Awaitable[bool]], timeout: float | None = None
    ) -> Item:
        """The finished item; cancels it if the client disconnects or the wait times out (504)."""
        events = self.follow(who, self.lifecycle.live.subscribe(item_id), gone=gone, timeout=timeout)
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Item):
                    return event
        raise AssertionError("follow ends with the finished item")

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
