"""When to try a request again: the same rules for the sync and the async client."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

# Statuses that mean "not processed, try later" whatever the method.
ALWAYS_RETRYABLE = frozenset({429, 503})
# Statuses after which only an idempotent request may be sent again.
IDEMPOTENT_RETRYABLE = frozenset({502, 504})
MAX_RETRY_AFTER = 60.0


def retry_delay(
    *,
    attempt: int,
    idempotent: bool,
    status: int | None = None,
    error: Exception | None = None,
    retry_after: str | None = None,
    max_retries: int,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to give up."""
    if attempt >= max_retries:
        return None
    if status is not None:
        if status not in ALWAYS_RETRYABLE and not (idempotent and status in IDEMPOTENT_RETRYABLE):
            return None
        told = _parse_retry_after(retry_after)
        if told is not None:
            return min(told, MAX_RETRY_AFTER)
    elif error is not None:
        # A refused connection never reached the server; other transport errors might have.
        if not isinstance(error, httpx.ConnectError) and not idempotent:
            return None
        if not isinstance(error, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return None
    backoff: float = min(8.0, 0.5 * 2.0**attempt)
    return backoff * random.uniform(0.75, 1.25)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
