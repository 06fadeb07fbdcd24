"""Time in the store is Unix seconds (float); on the wire it is ISO-8601 or Unix seconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()


def unix(ts: float | None) -> int | None:
    return None if ts is None else int(ts)
