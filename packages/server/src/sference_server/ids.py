"""Time-ordered identifiers (UUIDv7, RFC 9562) and API key material."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF


def uuid7() -> str:
    """A UUIDv7 string. Ids made by one process are strictly increasing.

    The 12-bit ``rand_a`` field holds a counter that restarts at a random value each millisecond
    (RFC 9562 §6.2 method 1), so many ids made in the same millisecond still sort in creation order.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2)) & 0x3FF
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = 0
        return _format(_last_ms, _counter, int.from_bytes(os.urandom(8)))


def uuid7_after(previous: str) -> str:
    """A UUIDv7 that sorts after both ``previous`` and every id this process made before."""
    candidate = uuid7()
    if candidate > previous:
        return candidate
    prev = uuid.UUID(previous).int
    ms = prev >> 80
    counter = (prev >> 64) & _COUNTER_MAX
    if counter < _COUNTER_MAX:
        counter += 1
    else:
        ms, counter = ms + 1, 0
    global _last_ms, _counter
    with _lock:
        if (ms, counter) > (_last_ms, _counter):
            _last_ms, _counter = ms, counter
    return _format(ms, counter, int.from_bytes(os.urandom(8)))


def _format(ms: int, counter: int, rand: int) -> str:
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (counter & _COUNTER_MAX) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    digits = f"{value:032x}"  # what str(uuid.UUID(int=value)) writes, without its checks (a third of the time)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
