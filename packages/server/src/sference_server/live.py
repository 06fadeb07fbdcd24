"""Text on its way to a streaming client, and cancellations on their way to the worker.

The worker hands each piece of an answer it streams to ``LiveText.publish``; an API connection
that streams that answer reads the pieces from ``subscribe``. In one process (``serve``) the hub
passes them over directly. Across processes on PostgreSQL the worker's hub also forwards them
(``forward``, a NOTIFY sender, store/changes.py) and the API's change watcher ``deliver``s what
it hears, so a subscriber may get a piece twice: each piece carries its offset in the answer and
a subscriber keeps only what extends what it has. Pieces are hints, like every wake-up here: the
finished item in the store is the truth, and the API sends whatever the pieces missed from it.

Cancellations go the other way: ``cancelled(item_ids)`` reaches the worker's handler at once in
one process (and through NOTIFY from another), instead of at its next lease renewal.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    item_id: str
    offset: int  # characters of the answer before this piece
    text: str


def missed_text(answer: str, sent: str) -> str:
    """What a stream that sent ``sent`` still owes of the finished ``answer`` (nothing when they
    differ: a run that sampled otherwise cannot take back what went out)."""
    return answer[len(sent) :] if answer.startswith(sent) else ""


class _Wake(asyncio.Event):
    """Set by a wake-up signal (the item may have finished): also ends the subscriber's wait."""

    def __init__(self, queue: asyncio.Queue[str | None]) -> None:
        super().__init__()
        self._queue = queue

    def set(self) -> None:
        super().set()
        self._queue.put_nowait(None)


class Subscription:
    """The pieces of one item's answer, in order, each character once. Made on the loop that
    reads it."""

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        self.received = 0  # characters of the answer passed on so far
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.woken = _Wake(self._queue)  # subscribe it to the signal that tells an item finished

    def _offer(self, piece: Piece) -> None:  # on the subscriber's loop
        end = piece.offset + len(piece.text)
        if piece.offset > self.received or end <= self.received:
            return  # a gap (pieces were lost: the final answer fills it) or already passed on
        self._queue.put_nowait(piece.text[self.received - piece.offset :])
        self.received = end

    async def next(self, timeout: float) -> str | None:
        """The next new text; ``None`` when woken, or after ``timeout`` seconds without any."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def drain(self) -> list[str]:
        """The text that arrived and was not read yet."""
        pieces = []
        while not self._queue.empty():
            piece = self._queue.get_nowait()
            if piece:
                pieces.append(piece)
        return pieces


class LiveText:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Subscription]] = {}
        self._cancel_handlers: list[Callable[[list[str]], None]] = []
        self.forward: Callable[[Piece], None] | None = None  # to other processes (PostgreSQL)

    # -- text: worker -> API ---------------------------------------------------------------

    def subscribe(self, item_id: str) -> Subscription:
        subscription = Subscription(item_id)
        with self._lock:
            self._subscribers.setdefault(item_id, []).append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            listeners = self._subscribers.get(subscription.item_id, [])
            if subscription in listeners:
                listeners.remove(subscription)
            if not listeners:
                self._subscribers.pop(subscription.item_id, None)

    def publish(self, piece: Piece) -> None:
        """From the worker, any thread."""
        self.deliver(piece)
        if self.forward is not None:
            self.forward(piece)

    def deliver(self, piece: Piece) -> None:
        """To this process's subscribers only (the change watcher calls it), any thread."""
        with self._lock:
            listeners = list(self._subscribers.get(piece.item_id, ()))
        for subscription in listeners:
            if not subscription._loop.is_closed():
                subscription._loop.call_soon_threadsafe(subscription._offer, piece)

    # -- cancellations: API -> worker ------------------------------------------------------

    def on_cancel(self, handler: Callable[[list[str]], None]) -> None:
        with self._lock:
            self._cancel_handlers.append(handler)

    def off_cancel(self, handler: Callable[[list[str]], None]) -> None:
        with self._lock:
            self._cancel_handlers = [h for h in self._cancel_handlers if h is not handler]

    def cancelled(self, item_ids: Iterable[str]) -> None:
        """Items that were cancelled (any thread); handlers must be thread-safe."""
        ids = list(item_ids)
        with self._lock:
            handlers = list(self._cancel_handlers)
        for handler in handlers:
            handler(ids)
