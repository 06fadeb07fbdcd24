"""Runs a worker and its engines inside an asyncio loop: in ``serve`` next to the API, or alone in
``sference-server worker``. Needs only a ``Core``: no API service is built."""

from __future__ import annotations

import asyncio

from ..core import Core
from ..engines.base import Engine
from ..engines.registry import build_engine
from .runner import Worker


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
        self._report("loading")

    def _report(self, state: str) -> None:
        self.core.engines.update(dict.fromkeys(self.engines, state))

    async def start(self) -> None:
        """Start the engines, then work in a background task until ``stop``."""
        worker = await self._start_engines()
        self._task = asyncio.create_task(worker.run(self.stop_event), name="worker")

    async def run(self, *, burst: bool = False) -> None:
        """Start the engines and work in the foreground until stopped (or drained, with ``burst``)."""
        worker = await self._start_engines()
        try:
            await worker.run(self.stop_event, burst=burst)
        finally:
            await self._stop_engines()

    async def _start_engines(self) -> Worker:
        await asyncio.gather(*(engine.start() for engine in self.engines.values()))
        self._report("ready")
        return Worker(
            self.core.db,
            self.engines,
            self.core.settings,
            work_signal=self.core.work_signal,
            events_signal=self.core.events_signal,
        )

    async def stop(self) -> None:
        self.stop_event.set()
        if self._task is not None:
            await self._task
        await self._stop_engines()

    async def _stop_engines(self) -> None:
        self._report("loading")
        await asyncio.gather(*(engine.stop() for engine in self.engines.values()))
