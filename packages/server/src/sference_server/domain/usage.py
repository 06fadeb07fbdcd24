"""What usage counts: requests that finished, by how they finished, and their tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class UsageCounts:
    """Requests that completed (answered), failed, were cancelled or expired, and the tokens of
    the answered ones: prompt tokens (of them, ``cached_tokens`` served from a prefix cache) and
    completion tokens (of them, ``reasoning_tokens`` spent thinking)."""

    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: UsageCounts) -> UsageCounts:
        return UsageCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def total(counts: Iterable[UsageCounts]) -> UsageCounts:
    return sum(counts, UsageCounts())
