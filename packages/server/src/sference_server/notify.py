"""In-process wake-ups: "new work was queued" from API threads to the worker's event loop.

Only a hint: a worker in another process misses it and finds the work on its next poll.
"""

from __future__ import annotations

import asyncio
import threading


class Signal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def subscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.append((asyncio.get_running_loop(), event))

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = [(loop, e) for loop, e in self._waiters if e is not event]

    def fire(self) -> None:
        """Safe to call from any thread. The events of one loop are set in one callback, so a
        task woken by one of them already sees the others set (from another thread, separate
        callbacks could run the woken task in between)."""
        with self._lock:
            waiters = list(self._waiters)
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
        for loop, event in waiters:
            by_loop.setdefault(loop, []).append(event)
        for loop, events in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_set_all, events)


def _set_all(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()
