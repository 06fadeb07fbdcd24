"""Time-ordered identifiers (UUIDv7, RFC 9562) and API key material."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF
# Random bytes drawn 4 KiB at a time: ``os.urandom`` releases the GIL, and a thread that gives it
# up while others run waits up to a switch interval (5 ms) to get it back, once per id.
_POOL_BYTES = 4096
_pool = b""
_pool_at = 0


def _random_bits() -> int:
    """64 random bits from the pool (call with ``_lock`` held)."""
    global _pool, _pool_at
    if _pool_at + 8 > len(_pool):
        _pool, _pool_at = os.urandom(_POOL_BYTES), 0
    _pool_at += 8
    return int.from_bytes(_pool[_pool_at - 8 : _pool_at])


def _empty_pool() -> None:
    """In a forked child: draw afresh, never the parent's bytes (ids made the same millisecond
    in both would be equal)."""
    global _pool, _pool_at
    _pool, _pool_at = b"", 0


os.register_at_fork(after_in_child=_empty_pool)


def uuid7() -> str:
    """A UUIDv7 string. Ids made by one process are strictly increasing.

    The 12-bit ``rand_a`` field holds a counter that restarts at a random value each millisecond
    (RFC 9562 §6.2 method 1), so many ids made in the same millisecond still sort in creation order.
    """
    global _last_ms, _counter
    with _lock:
        _look_at_clock()
        _last_ms, _counter = _after(_last_ms, _counter)
        return _format(_last_ms, _counter, _random_bits())


def uuid7s_after(previous: str, count: int) -> list[str]:
    """``count`` increasing UUIDv7s that sort after ``previous`` (when given; an id from another
    process, whose clock may be ahead) and after every id this process made before them; the ids
    it makes later sort after these. One look at the clock and one turn of the lock for all."""
    global _last_ms, _counter
    floor = (-1, 0)
    if previous:
        value = int(previous.replace("-", ""), 16)
        floor = (value >> 80, (value >> 64) & _COUNTER_MAX)
    ids = []
    with _lock:
        _look_at_clock()
        ms, counter = max((_last_ms, _counter), floor)
        for _ in range(count):
            ms, counter = _after(ms, counter)
            ids.append(_format(ms, counter, _random_bits()))
        _last_ms, _counter = ms, counter
    return ids


def _look_at_clock() -> None:
    """In a new millisecond, restart the counter just below a random start (call with ``_lock``
    held): the next id takes the start."""
    global _last_ms, _counter
    clock = time.time_ns() // 1_000_000
    if clock > _last_ms:
        _last_ms, _counter = clock, (_random_bits() & 0x3FF) - 1


def _after(ms: int, counter: int) -> tuple[int, int]:
    """The (millisecond, counter) that comes next: the counter's overflow borrows the next millisecond."""
    return (ms, counter + 1) if counter < _COUNTER_MAX else (ms + 1, 0)


def uuid7_floor(at: float) -> str:
    """The smallest UUIDv7 of the millisecond at Unix time ``at``: ``id >= uuid7_floor(t)`` picks
    the ids made from ``t`` on, through the primary key (store/estimates.py)."""
    return _format(int(at * 1000), 0, 0)


def _format(ms: int, counter: int, rand: int) -> str:
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (counter & _COUNTER_MAX) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    digits = f"{value:032x}"  # what str(uuid.UUID(int=value)) writes, without its checks (a third of the time)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
