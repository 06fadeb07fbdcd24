"""Webhook events and the retry schedule of their deliveries (docs/api.md "Webhooks").

A delivery is ``pending`` until an attempt gets a 2xx (``delivered``) or its retry window ends
(``failed``); a manual redelivery makes it ``pending`` again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import StrEnum

from .states import BatchStatus

# Jitter from a generator of its own: the global ``random`` state is left to whoever else uses it
# (threads drawing from it concurrently make Hypothesis-driven tests of a live server flaky).
_jitter = random.Random()


class EventType(StrEnum):
    BATCH_COMPLETED = "batch.completed"
    BATCH_FAILED = "batch.failed"
    BATCH_CANCELLED = "batch.cancelled"
    BATCH_EXPIRED = "batch.expired"
    RESPONSE_COMPLETED = "response.completed"
    # Sent only by ``POST /v1/webhooks/endpoints/{id}/test``, to every endpoint whatever it subscribed.
    TEST = "webhook.test"


# What an endpoint may subscribe to (``webhook.test`` is not an event one subscribes to).
SUBSCRIBABLE = tuple(e for e in EventType if e != EventType.TEST)
BATCH_EVENTS = (
    EventType.BATCH_COMPLETED,
    EventType.BATCH_FAILED,
    EventType.BATCH_CANCELLED,
    EventType.BATCH_EXPIRED,
)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def batch_event(status: BatchStatus, *, expired: int) -> EventType:
    """The event of a batch that reached the terminal ``status``, in OpenAI's words: a batch
    whose window ran out with requests left unfinished (``expired`` of them) is
    ``batch.expired``, whatever its own status says (the payload has that and the counts)."""
    if status == BatchStatus.CANCELLED:
        return EventType.BATCH_CANCELLED
    if expired:
        return EventType.BATCH_EXPIRED
    return EventType.BATCH_COMPLETED if status == BatchStatus.COMPLETED else EventType.BATCH_FAILED


# Waits after the 1st, 2nd, ... failed attempt (the last one repeats), until the retry window of
# 24 hours from the event ends. The Standard Webhooks schedule, without its final 10 hours.
RETRY_SECONDS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
RETRY_WINDOW_SECONDS = 24 * 3600.0
JITTER = 0.2  # each wait is drawn from ±20 % of its value, so failed receivers are not hit in step


def next_wait(failed_attempts: int, schedule: Sequence[float] = RETRY_SECONDS, *, jitter: float = JITTER) -> float:
    """How long to wait after ``failed_attempts`` (≥ 1) failed attempts."""
    base = schedule[min(failed_attempts, len(schedule)) - 1]
    return base * _jitter.uniform(1.0 - jitter, 1.0 + jitter)
