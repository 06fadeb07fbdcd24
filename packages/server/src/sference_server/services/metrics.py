"""The text Prometheus scrapes: this process's metrics (or, in multiprocess mode, every process's
that shares ``PROMETHEUS_MULTIPROC_DIR``) and the queue as the store sees it now."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from .. import metrics
from ..domain.states import ItemStatus, Priority
from ..store.database import Database
from ..store.queue_stats import QueueDepth, queue_depths
from ..timeutil import now

CONTENT_TYPE = CONTENT_TYPE_LATEST
QUEUE_READ_SECONDS = 5.0  # scrapes closer together than this share one read of the store


class QueueCollector(Collector):
    """Queue depth by model, priority class and state, and the age of the oldest queued request,
    read from the store at most every few seconds however often it is scraped. The served
    ``models`` report 0 queued and running when they have nothing (a series that vanished would
    read as "no data", not as an empty queue)."""

    def __init__(self, db: Database, models: Sequence[str] = ()) -> None:
        self.db = db
        self.models = tuple(models)
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._depths: list[QueueDepth] = []

    def _current(self) -> list[QueueDepth]:
        with self._lock:
            if time.monotonic() - self._read_at >= QUEUE_READ_SECONDS:
                with self.db.read() as conn:
                    self._depths = queue_depths(conn)
                self._read_at = time.monotonic()
            return self._depths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "sference_queue_items",
            "Requests queued or running, by model, priority class (interactive, queued) and state.",
            labels=["model", "priority", "state"],
        )
        oldest = GaugeMetricFamily(
            "sference_queue_oldest_age_seconds",
            "Seconds since the oldest queued request was submitted, by model and priority class.",
            labels=["model", "priority"],
        )
        current = now()
        rows = self._current()
        present = {(row.model, row.priority, row.status) for row in rows}
        idle = [
            QueueDepth(model, Priority.QUEUED, status, 0, None)
            for model in self.models
            for status in (ItemStatus.QUEUED, ItemStatus.RUNNING)
            if (model, Priority.QUEUED, status) not in present
        ]
        for row in [*rows, *idle]:
            priority = Priority(row.priority).name.lower()
            depth.add_metric([row.model, priority, row.status], row.count)
            if row.status == ItemStatus.QUEUED and row.oldest_created_at is not None:
                oldest.add_metric([row.model, priority], max(0.0, current - row.oldest_created_at))
        yield depth
        yield oldest


def scrape_registry(db: Database, models: Sequence[str] = ()) -> CollectorRegistry:
    """What one scrape reads: the process's own metrics, or all processes' in multiprocess mode
    (whose registry must be a fresh one: the default holds only this process's values), plus
    the queue from the store (``models``: those served, reported even when idle)."""
    registry = CollectorRegistry(auto_describe=True)
    if metrics.MULTIPROCESS_DIR is not None:
        MultiProcessCollector(registry, metrics.MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Delegate(REGISTRY))
    registry.register(QueueCollector(db, models))
    return registry


class _Delegate(Collector):
    """The default registry's metrics, inside another registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        return iter(self.registry.collect())


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def serve_admin_port(registry: CollectorRegistry, host: str, port: int) -> tuple[str, Callable[[], None]]:
    """Serve ``/metrics`` (any path, in fact) without a token on ``host:port``, in a thread of its
    own, so a process without the HTTP API (``sference-server worker``) can be scraped too.
    Returns its address and how to stop it."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    url_host = f"[{host}]" if ":" in host else host
    return f"http://{url_host}:{server.server_port}/metrics", server.shutdown
