"""API keys read recently, so a burst of requests with one key reads the store once a second.

An entry lives ``ttl`` seconds: a key revoked (or its user disabled) by another process stops
working within that time; in this process the cache is cleared at once by every change to keys or
users. Only keys that exist are cached (a flood of made-up keys cannot fill it), at most ``size``
of them, the least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..store.records import KeyOwner


class KeyCache:
    def __init__(self, *, ttl: float = 1.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, KeyOwner]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str, current: float) -> KeyOwner | None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            read_at, owner = entry
            if current - read_at >= self.ttl:
                del self._entries[key_hash]
                return None
            self._entries.move_to_end(key_hash)
            return owner

    def put(self, key_hash: str, owner: KeyOwner, current: float) -> None:
        with self._lock:
            self._entries[key_hash] = (current, owner)
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
