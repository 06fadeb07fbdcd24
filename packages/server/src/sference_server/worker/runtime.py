"""Runs a worker and its engines inside an asyncio loop: in ``serve`` next to the API, or alone in
``sference-server worker``. Needs only a ``Core``: no API service is built."""

from __future__ import annotations

import asyncio

from .. import metrics
from ..core import Core
from ..engines.base import Engine
from ..engines.registry import build_engine
from ..engines.upstream.engine import UpstreamEngine
from ..store.changes import PieceSender
from .runner import Worker
from .webhooks import Deliverer

SAMPLE_SECONDS = 1.0


class WorkerRuntime:
    def __init__(self, core: Core, *, models: list[str] | None = None) -> None:
        self.core = core
        served = core.catalog.ids()
        wanted = models or served
        unknown = set(wanted) - set(served)
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(sorted(unknown))}; served: {core.catalog.describe_served()}")
        cache = core.settings.data_dir / "models"
        self.engines: dict[str, Engine] = {
            spec.id: build_engine(spec, cache_dir=cache, llama_log=core.settings.llama_log)
            for spec in core.catalog.specs
            if spec.id in wanted
        }
        self.stop_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._piece_sender: PieceSender | None = None
        self._worker: Worker | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._deliverer = Deliverer(core)  # every worker sends the webhook outbox too
        core.engine_states = self.states
        core.engine_replicas = self.replicas

    def states(self) -> dict[str, str]:
        """Each model's state: its engine's, unless the worker cannot reach the store or stopped."""
        problem = self._worker.store_problem if self._worker is not None else None
        if self._task is not None and self._task.done() and not self.stop_event.is_set():
            problem = "the worker stopped unexpectedly; see the log"
        return {
            model: (f"not ready: {problem}" if problem else engine.state()) if self._started else "loading"
            for model, engine in self.engines.items()
        }

    def replicas(self) -> dict[str, list[dict[str, object]]]:
        """The upstream replicas of each ``openai`` model (``/v1/health/ready`` shows them)."""
        return {
            model: engine.replicas_report()
            for model, engine in self.engines.items()
            if isinstance(engine, UpstreamEngine)
        }

    async def _sample_load(self) -> None:
        """Keep the gauges of engine slots and upstream replicas current (once a second: they
        change with every request, and nobody reads them more often)."""
        while True:
            busy = self._worker.busy() if self._worker is not None else {}
            for model, engine in self.engines.items():
                metrics.SLOTS.labels(model).set(engine.capacity)
                metrics.SLOTS_BUSY.labels(model).set(busy.get(model, 0))
                if isinstance(engine, UpstreamEngine):
                    for replica in engine.replicas:
                        labels = (model, replica.base_url)
                        metrics.REPLICA_UP.labels(*labels).set(1 if replica.up else 0)
                        metrics.REPLICA_LIMIT.labels(*labels).set(replica.limit.value)
                        metrics.REPLICA_IN_FLIGHT.labels(*labels).set(replica.in_flight)
            await asyncio.sleep(SAMPLE_SECONDS)

    async def start(self) -> None:
        """Start the engines, then work in a background task until ``stop``."""
        worker = await self._start_engines()
        self._deliverer.start()
        self._task = asyncio.create_task(worker.run(self.stop_event), name="worker")

    async def run(self, *, burst: bool = False) -> None:
        """Start the engines and work in the foreground until stopped (or drained, with ``burst``)."""
        worker = await self._start_engines()
        self._deliverer.start()
        try:
            await worker.run(self.stop_event, burst=burst)
        finally:
            await self._deliverer.stop()
            await self._stop_engines()

    async def _start_engines(self) -> Worker:
        await asyncio.gather(*(engine.start() for engine in self.engines.values()))
        self._started = True
        self._sampler = asyncio.create_task(self._sample_load(), name="load-sampler")
        if self.core.db.is_postgres:  # API processes elsewhere may stream what we make
            self._piece_sender = PieceSender(self.core.db)
            self.core.live.forward = self._piece_sender
        self._worker = Worker(
            self.core.db,
            self.engines,
            self.core.settings,
            work_signal=self.core.work_signal,
            events_signal=self.core.events_signal,
            live=self.core.live,
        )
        return self._worker

    async def stop(self) -> None:
        self.stop_event.set()
        if self._task is not None:
            await self._task
        await self._deliverer.stop()
        await self._stop_engines()

    async def _stop_engines(self) -> None:
        self._started = False
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None
        await asyncio.gather(*(engine.stop() for engine in self.engines.values()))
        if self._piece_sender is not None:
            self.core.live.forward = None
            await asyncio.to_thread(self._piece_sender.close)
            self._piece_sender = None
