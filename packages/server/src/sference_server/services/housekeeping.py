"""The API process's own sweep: leases of vanished workers, overdue items and unfinished cancels
are handled even when no worker runs, or none serves a model (``sference-server serve`` leaves
this to its worker, whose sweep does the same)."""

from __future__ import annotations

import asyncio
import logging

from .. import metrics
from ..background import BackgroundTask
from ..core import Core
from ..retry import Backoff
from ..store.sweep import sweep

log = logging.getLogger("sference.housekeeping")


class Housekeeping(BackgroundTask):
    name = "housekeeping"

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core

    async def _run(self) -> None:
        settings = self.core.settings
        backoff = Backoff(settings.sweep_seconds, max(settings.sweep_seconds, 30.0))
        failing = False
        while True:
            try:
                report = await asyncio.to_thread(
                    sweep, self.core.db, max_attempts=settings.max_attempts, on_events=self.core.events_signal.fire
                )
            except Exception as exc:  # the store is away: try again later, log once
                if not failing:
                    log.warning("sweep failed (%s: %s); retrying", type(exc).__name__, exc)
                failing = True
                await asyncio.sleep(backoff.next())
                continue
            if failing:
                log.info("sweep works again")
            failing = False
            backoff.reset()
            metrics.count_ended(report.ended)
            if report:
                log.info("sweep: %s", report)
                self.core.events_signal.fire()
                self.core.work_signal.fire()
            await asyncio.sleep(settings.sweep_seconds)
