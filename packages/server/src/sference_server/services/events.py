"""The completion-events feed: a keyset page over one user's events, with a long-poll.

Ordering (contract §9): every page is oldest first. With ``starting_after`` it is the first
``limit`` events after the cursor; without a cursor it is the newest ``limit`` events (so a
consumer that keeps the last id of each page as its next cursor sees every event exactly once,
which is what ``sference responses tail`` does). ``has_more`` says that more events lie beyond
the page in the direction read. When a page would be empty, the request waits up to ``wait_ms``
(capped below the clients' 30 s timeout) for an event, woken by the in-process signal (or, across
processes, by PostgreSQL NOTIFY or SQLite's data_version) and polling every second regardless.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from ...errors import NotFound
from ...notify import Signal
from ...security.principal import Principal
from ...store import streams as stream_store
from ...store.database import Database
from ...store.events import read_feed
from .schemas import event_to_wire

MAX_WAIT_MS = 25_000
RECHECK_SECONDS = 1.0


class EventService:
    def __init__(self, db: Database, events_signal: Signal) -> None:
        self.db = db
        self.events_signal = events_signal

    def page(
        self, who: Principal, *, stream_id: str | None, after: str | None, before: str | None, limit: int
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            if stream_id is not None and stream_store.get_stream(conn, stream_id, user_id=who.user_id) is None:
                raise NotFound(f"no stream with id {stream_id!r}")
            rows, more = read_feed(
                conn, user_id=who.user_id, stream_id=stream_id, after=after, before=before, limit=limit
            )
        return {"object": "list", "data": [event_to_wire(r) for r in rows], "has_more": more}

    async def wait_for_page(
        self,
        who: Principal,
        *,
        stream_id: str | None,
        after: str | None,
        before: str | None,
        limit: int,
        wait_ms: int,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait_ms, MAX_WAIT_MS) / 1000
        woken = asyncio.Event()
        self.events_signal.subscribe(woken)
        try:
            while True:
                woken.clear()
                page = await anyio.to_thread.run_sync(
                    lambda: self.page(who, stream_id=stream_id, after=after, before=before, limit=limit)
                )
                remaining = deadline - loop.time()
                if page["data"] or remaining <= 0:
                    return page
                try:
                    await asyncio.wait_for(woken.wait(), min(remaining, RECHECK_SECONDS))
                except TimeoutError:
                    pass
        finally:
            self.events_signal.unsubscribe(woken)
