"""Requests a client waits for on the connection (chat completions, blocking responses).

They are items like any other, with the interactive priority: workers claim them even when full
and the engine runs them ahead of queued work (taking a slot from the youngest queued sequence if
need be), so one returns in about the time the engine needs for it, whatever batch is running.
The caller waits on the events signal (and re-checks every half second); a client that goes away
cancels its request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from sqlalchemy import insert, select

from ...catalog import ModelCatalog
from ...domain.chat import check_limits, normalise_chat_body
from ...domain.states import ACTIVE_ITEM_STATUSES, ErrorCode, ItemStatus, Priority
from ...errors import BadRequest, ServiceError, ServiceUnavailable
from ...ids import uuid7
from ...notify import Signal
from ...security.principal import Principal
from ...store.changes import WORK_CHANNEL, announce
from ...store.database import Database
from ...store.queue import cancel_and_record, error_json
from ...store.tables import items
from ...timeutil import now

RECHECK_SECONDS = 0.5
INTERACTIVE_WINDOW = 3600.0


class GatewayTimeout(ServiceError):
    status_code = 504


class Interactive:
    def __init__(
        self, db: Database, catalog: ModelCatalog, work_signal: Signal, events_signal: Signal, timeout: float
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.work_signal = work_signal
        self.events_signal = events_signal
        self.timeout = timeout

    def validate(self, body: Any) -> dict[str, Any]:
        chat, problems = normalise_chat_body(body, context="", allow_stream=True, allow_background=True)
        if chat is not None:
            limits = self.catalog.limits(chat["model"])
            if limits is None:
                served = self.catalog.describe_served()
                raise BadRequest(
                    f"The model {chat['model']!r} does not exist here; served models: {served}",
                    extra=[{"loc": "model", "message": "model_not_found"}],
                )
            problems += check_limits(chat, limits, context="")
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
    ) -> str:
        item_id, accepted = uuid7(), now()
        with self.db.write() as conn:
            conn.execute(
                insert(items),
                [
                    {
                        "id": item_id,
                        "user_id": who.user_id,
                        "model": chat["model"],
                        "body": json.dumps(chat, separators=(",", ":")),
                        "status": ItemStatus.QUEUED,
                        "priority": priority,
                        "deadline": accepted + INTERACTIVE_WINDOW,
                        "created_at": accepted,
                        "metadata": json.dumps(metadata) if metadata else None,
                    }
                ],
            )
            announce(conn, WORK_CHANNEL)
        self.work_signal.fire()
        return item_id

    def row(self, who: Principal, item_id: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(select(items).where(items.c.id == item_id, items.c.user_id == who.user_id)).first()

    async def wait(self, who: Principal, item_id: str, *, gone: Callable[[], Awaitable[bool]]) -> Any:
        """The finished item; cancels it if the client disconnects or the wait times out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        woken = asyncio.Event()
        self.events_signal.subscribe(woken)
        try:
            while True:
                woken.clear()
                row = await anyio.to_thread.run_sync(self.row, who, item_id)
                if row.status not in ACTIVE_ITEM_STATUSES:
                    return row
                if await gone() or loop.time() >= deadline:
                    await anyio.to_thread.run_sync(self.cancel, item_id)
                    raise GatewayTimeout(f"the request did not finish within {self.timeout:g} s")
                try:
                    await asyncio.wait_for(woken.wait(), RECHECK_SECONDS)
                except TimeoutError:
                    pass
        finally:
            self.events_signal.unsubscribe(woken)

    def cancel(self, item_id: str, message: str = "the client went away") -> None:
        error = error_json(ErrorCode.RESPONSE_CANCELLED, message)
        with self.db.write() as conn:
            cancelled = cancel_and_record(
                conn, items.c.id == item_id, statuses=ACTIVE_ITEM_STATUSES, error=error, now=now()
            )
        if cancelled:
            self.events_signal.fire()


def raise_for_failure(row: Any) -> None:
    """A request that did not complete becomes the HTTP error a client expects."""
    if row.status == ItemStatus.COMPLETED:
        return
    error = json.loads(row.error) if row.error else {"code": row.status, "message": f"the request {row.status}"}
    if error.get("code") in (ErrorCode.CONTEXT_LENGTH_EXCEEDED, ErrorCode.INVALID_REQUEST):
        raise BadRequest(error["message"], extra=[{"loc": "messages", "message": error["code"]}])
    raise ServiceUnavailable(f"{error['code']}: {error['message']}")
