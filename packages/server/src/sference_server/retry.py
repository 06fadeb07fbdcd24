"""Waiting between retries of something that may come back (the store after a restart)."""

from __future__ import annotations


class Backoff:
    """Exponential waits between retries, from ``first`` doubling up to ``most``."""

    def __init__(self, first: float, most: float) -> None:
        self.first, self.most = first, most
        self._current = first

    def next(self) -> float:
        wait = self._current
        self._current = min(self.most, self._current * 2)
        return wait

    def reset(self) -> None:
        self._current = self.first
