"""Values read from the store recently, so a burst of requests reads the store once a second
(API keys: security/accounts.py; users' limits: services/quotas.py).

An entry lives ``ttl`` seconds: a change made by another process shows within that time; the
process that makes a change clears the cache at once. Callers cache only what exists (a flood
of made-up keys cannot fill it); at most ``size`` entries, the least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class TtlCache[K, V]:
    def __init__(self, *, ttl: float = 1.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, current: float) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            read_at, value = entry
            if current - read_at >= self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V, current: float) -> None:
        with self._lock:
            self._entries[key] = (current, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
