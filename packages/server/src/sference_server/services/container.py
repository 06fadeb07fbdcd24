"""The services of one process, built once at start-up and shared by every request."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from .api.batches.service import BatchService
from .api.events.service import EventService
from .api.openai.batches import OpenAIBatches
from .api.openai.files import FileService
from .api.openai.interactive import Interactive
from .api.responses.service import ResponseService
from .api.streams.service import StreamService
from .catalog import ModelCatalog
from .config import Settings
from .engines.base import Engine
from .engines.registry import build_engine
from .notify import Signal
from .security.accounts import Accounts
from .security.device_flow import DeviceFlow
from .security.sessions import ConsoleSessions
from .store.changes import ChangeWatcher
from .store.database import Database
from .timeutil import now
from .worker.runner import Worker

log = logging.getLogger("sference")


@dataclass
class Services:
    settings: Settings
    db: Database
    catalog: ModelCatalog
    accounts: Accounts
    batches: BatchService
    streams: StreamService
    responses: ResponseService
    events: EventService
    files: FileService
    openai_batches: OpenAIBatches
    interactive: Interactive
    sessions: ConsoleSessions
    device_flow: DeviceFlow
    work_signal: Signal
    events_signal: Signal
    started_at: float = field(default_factory=now)
    engines: dict[str, Engine] = field(default_factory=dict)
    engines_ready: bool = False

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> Services:
        db = db or Database(settings.resolved_database_url())
        catalog = ModelCatalog(settings.models)
        work, events = Signal(), Signal()
        device_flow = DeviceFlow(db, interval=settings.device_poll_seconds)
        batches = BatchService(db, settings, catalog, work, events)
        return cls(
            settings=settings,
            db=db,
            catalog=catalog,
            accounts=Accounts(db, device_flow),
            sessions=ConsoleSessions(db),
            device_flow=device_flow,
            batches=batches,
            streams=StreamService(db, events),
            responses=ResponseService(db, catalog, work, events),
            events=EventService(db, events),
            files=FileService(db, settings.max_batch_bytes),
            openai_batches=OpenAIBatches(db, settings, catalog, batches),
            interactive=Interactive(db, catalog, work, events, settings.interactive_timeout_seconds),
            work_signal=work,
            events_signal=events,
        )

    def watch_changes(self) -> ChangeWatcher:
        """Start relaying other processes' changes to this process's signals."""
        watcher = ChangeWatcher(self.db, work=self.work_signal, events=self.events_signal)
        watcher.start()
        return watcher

    def readiness(self) -> dict[str, Any]:
        try:
            with self.db.read() as conn:
                conn.execute(text("SELECT 1"))
            store = "ok"
        except Exception as exc:  # report, don't raise: this is a probe
            store = f"unavailable: {type(exc).__name__}"
        engines = dict.fromkeys(self.engines, "ready" if self.engines_ready else "loading")
        ready = store == "ok" and (not self.engines or self.engines_ready)
        return {"status": "ready" if ready else "not_ready", "store": store, "engines": engines}

    def close(self) -> None:
        self.db.dispose()


class WorkerHost:
    """Runs a Worker (and its engines) inside an asyncio loop: in ``serve`` next to the API,
    or alone in ``worker``."""

    def __init__(self, services: Services, *, models: list[str] | None = None) -> None:
        self.services = services
        wanted = models or services.catalog.ids()
        unknown = set(wanted) - set(services.catalog.ids())
        if unknown:
            raise ValueError(
                f"unknown model(s) {', '.join(sorted(unknown))}; served: {services.catalog.describe_served()}"
            )
        cache = services.settings.data_dir / "models"
        self.engines = {
            spec.id: build_engine(spec, cache_dir=cache) for spec in services.catalog.specs if spec.id in wanted
        }
        services.engines = self.engines
        self.stop_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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
        self.services.engines_ready = True
        return Worker(
            self.services.db,
            self.engines,
            self.services.settings,
            work_signal=self.services.work_signal,
            events_signal=self.services.events_signal,
        )

    async def stop(self) -> None:
        self.stop_event.set()
        if self._task is not None:
            await self._task
        await self._stop_engines()

    async def _stop_engines(self) -> None:
        self.services.engines_ready = False
        await asyncio.gather(*(engine.stop() for engine in self.engines.values()))
