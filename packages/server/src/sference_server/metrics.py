"""Prometheus metrics: what each process counts as it works (docs/operations.md#monitoring).

Counters and histograms live in the process that does the work: the worker counts claims,
outcomes and tokens, the API times requests and counts events-feed waiters. What the store knows
(queue depth, the oldest queued request) is read when scraped (``services/metrics.py``), so every
process reports the same queue whoever scrapes it.

``api`` and ``worker`` as separate processes on one machine share their counters through
prometheus-client's multiprocess mode: start each with ``PROMETHEUS_MULTIPROC_DIR`` naming the
same empty directory, and the API's ``/metrics`` sums them. The library reads that variable when
it is first imported, so it comes from the environment, never from a setting. Gauges of a process
that exits drop out (``livesum``/``livemax``); its counters stay, so rates never jump back.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

CLAIMED = Counter("sference_items_claimed", "Requests claimed by a worker.", ["model"])
FINISHED = Counter(
    "sference_items_finished",
    "Requests finished by a worker, or expired or failed (worker lost) by the sweep: status completed, failed or "
    "expired; error_code empty when completed. Cancellations are not counted.",
    ["model", "status", "error_code"],
)
RETRIED = Counter(
    "sference_items_retried",
    "Attempts that failed with a transient error and went back to the queue.",
    ["model", "error_code"],
)
TOKENS = Counter(
    "sference_tokens",
    "Tokens of finished requests: kind input (prompt), output or cached (part of input).",
    ["model", "kind"],
)
SLOTS = Gauge("sference_engine_slots", "Requests an engine runs at once.", ["model"], multiprocess_mode="livesum")
SLOTS_BUSY = Gauge(
    "sference_engine_slots_busy", "Requests an engine is running now.", ["model"], multiprocess_mode="livesum"
)
REPLICA_UP = Gauge(
    "sference_upstream_replica_up",
    "1 while an upstream replica takes requests.",
    ["model", "replica"],
    multiprocess_mode="livemax",
)
REPLICA_LIMIT = Gauge(
    "sference_upstream_replica_limit",
    "The adaptive concurrency limit of an upstream replica.",
    ["model", "replica"],
    multiprocess_mode="livesum",
)
REPLICA_IN_FLIGHT = Gauge(
    "sference_upstream_replica_in_flight",
    "Requests in flight to an upstream replica.",
    ["model", "replica"],
    multiprocess_mode="livesum",
)
EVENT_WAITERS = Gauge(
    "sference_events_waiters", "Long polls of the completion-events feed waiting now.", multiprocess_mode="livesum"
)
REQUEST_SECONDS = Histogram(
    "sference_http_request_duration_seconds",
    "HTTP requests by route template (unmatched: no route), method and status, until the response began.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

EXPORTED = (
    CLAIMED, FINISHED, RETRIED, TOKENS, SLOTS, SLOTS_BUSY, REPLICA_UP, REPLICA_LIMIT, REPLICA_IN_FLIGHT,
    EVENT_WAITERS, REQUEST_SECONDS,
)  # fmt: skip


def count_ended(ended: Mapping[tuple[str, str, str], int]) -> None:
    """Requests the housekeeping sweep ended (expired in the queue, failed after their worker was
    lost), by (model, status, error code), counted with those a worker finished."""
    for (model, status, code), n in ended.items():
        FINISHED.labels(model, status, code).inc(n)


def _forget_this_process() -> None:
    """Drop this process's live gauges from the shared directory (its counters stay)."""
    _multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]


if MULTIPROCESS_DIR is not None:
    atexit.register(_forget_this_process)
