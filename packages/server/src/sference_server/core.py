"""The core every process builds first: settings, the store, the served models, the wake-up
signals, and what the process's engines report. ``ApiServices`` (services/container.py) and
``WorkerRuntime`` (worker/runtime.py) are built on one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import ModelCatalog
from .config import Settings
from .live import LiveText
from .notify import Signal
from .store.changes import ChangeWatcher
from .store.database import Database
from .timeutil import now


@dataclass
class Core:
    settings: Settings
    db: Database
    catalog: ModelCatalog
    work_signal: Signal = field(default_factory=Signal)  # new work was queued
    events_signal: Signal = field(default_factory=Signal)  # a request finished (an event was appended)
    live: LiveText = field(default_factory=LiveText)  # streamed text and cancellations
    started_at: float = field(default_factory=now)
    # The state of each engine this process runs (a worker's), by model id: "ready", "loading",
    # or why it is not ready. Set by the worker runtime.
    engine_states: Callable[[], dict[str, str]] = dict
    # The upstream replicas of the ``openai`` models this process runs (up, limit, in flight).
    engine_replicas: Callable[[], dict[str, list[dict[str, object]]]] = dict

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> Core:
        return cls(settings, db or Database(settings.resolved_database_url()), ModelCatalog(settings.models))

    def watch_changes(self) -> ChangeWatcher:
        """Start relaying other processes' changes to this process's signals."""
        watcher = ChangeWatcher(self.db, work=self.work_signal, events=self.events_signal, live=self.live)
        watcher.start()
        return watcher

    def readiness(self) -> dict[str, Any]:
        try:
            self.db.ping()
            store = "ok"
        except Exception as exc:  # report, don't raise: this is a probe
            store = f"unavailable: {type(exc).__name__}"
        engines = self.engine_states()
        ready = store == "ok" and all(state == "ready" for state in engines.values())
        report: dict[str, Any] = {"status": "ready" if ready else "not_ready", "store": store, "engines": engines}
        replicas = self.engine_replicas()
        if replicas:
            report["replicas"] = replicas
        return report

    def close(self) -> None:
        self.db.dispose()
