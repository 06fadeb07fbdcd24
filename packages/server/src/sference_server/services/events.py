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

import anyio

from .. import metrics
from ..errors import NotFound
from ..notify import Signal
from ..security.principal import Principal
from ..store import streams as stream_store
from ..store.database import Database
from ..store.events import read_feed
from ..store.records import FeedEvent

MAX_WAIT_MS = 25_000
RECHECK_SECONDS = 1.0


class EventService:
    def __init__(self, db: Database, events_signal: Signal) -> None:
        self.db = db
        self.events_signal = events_signal

    def page(
        self, who: Principal, *, stream_id: str | None, after: str | None, before: str | None, limit: int
    ) -> tuple[list[FeedEvent], bool]:
        """The events of the page, and whether more lie beyond it."""
        with self.db.read() as tx:
            if stream_id is not None and stream_store.get_stream(tx, stream_id, user_id=who.user_id) is None:
                raise NotFound(f"no stream with id {stream_id!r}")
            return read_feed(tx, user_id=who.user_id, stream_id=stream_id, after=after, before=before, limit=limit)

    async def wait_for_page(
        self,
        who: Principal,
        *,
        stream_id: str | None,
        after: str | None,
        before: str | None,
        limit: int,
        wait_ms: int,
    ) -> tuple[list[FeedEvent], bool]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait_ms, MAX_WAIT_MS) / 1000
        woken = asyncio.Event()
        self.events_signal.subscribe(woken)
        metrics.EVENT_WAITERS.inc()
        try:
            while True:
                woken.clear()
                events, more = await anyio.to_thread.run_sync(
                    lambda: self.page(who, stream_id=stream_id, after=after, before=before, limit=limit)
                )
                remaining = deadline - loop.time()
                if events or remaining <= 0:
                    return events, more
                try:
                    await asyncio.wait_for(woken.wait(), min(remaining, RECHECK_SECONDS))
                except TimeoutError:
                    pass
        finally:
            metrics.EVENT_WAITERS.dec()
            self.events_signal.unsubscribe(woken)
