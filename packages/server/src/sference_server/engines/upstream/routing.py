"""Which replica takes a request: consistent hashing of the prompt's prefix, with bounded load.

Requests that share a prefix (the system prompt, a few-shot header) hash to the same point of a
ring and go to the first replica after it, so that replica's prefix cache holds the shared part
once. A replica already carrying more than ``balance`` times the average load is skipped for the
next one on the ring (consistent hashing with bounded loads, Mirrokni et al. 2018), so one hot
prefix spreads over as many replicas as it needs instead of queueing on one.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any, Protocol

VIRTUAL_NODES = 64  # points per replica on the ring: an even split of the keys
BALANCE = 1.25


class Candidate(Protocol):
    @property
    def in_flight(self) -> int: ...


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class PrefixRing:
    def __init__(self, names: Sequence[str], *, balance: float = BALANCE) -> None:
        self.balance = balance
        ring = sorted((_point(f"{name}#{v}"), index) for index, name in enumerate(names) for v in range(VIRTUAL_NODES))
        self._points = [point for point, _ in ring]
        self._owners = [index for _, index in ring]

    def choose(self, key: str | None, replicas: Sequence[Candidate], eligible: Sequence[int]) -> int | None:
        """The index of the replica for ``key`` among ``eligible`` ones (``None``: none is)."""
        if not eligible:
            return None
        if key is None:
            return min(eligible, key=lambda i: replicas[i].in_flight)
        allowed = set(eligible)
        total = sum(replicas[i].in_flight for i in eligible) + 1
        bound = math.ceil(self.balance * total / len(eligible))
        start = bisect.bisect(self._points, _point(key))
        seen: set[int] = set()
        for step in range(len(self._owners)):
            owner = self._owners[(start + step) % len(self._owners)]
            if owner in seen:
                continue
            seen.add(owner)
            if owner in allowed and replicas[owner].in_flight < bound:
                return owner
        return min(eligible, key=lambda i: replicas[i].in_flight)


LONE_MESSAGE_CHARS = 128  # of a one-message prompt: an instruction before the data, at most


def prefix_key(messages: list[dict[str, Any]], chars: int) -> str | None:
    """What requests with a shared prompt prefix have in common: the messages before the last
    (system prompt, few-shot turns), or the start of a lone message; at most ``chars`` characters."""
    if chars <= 0 or not messages:
        return None
    if len(messages) > 1:
        return json.dumps(messages[:-1], separators=(",", ":"), ensure_ascii=False)[:chars]
    content = messages[0].get("content")
    text = content if isinstance(content, str) else json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    return text[: min(chars, LONE_MESSAGE_CHARS)]
