"""A loop that runs beside the server's work as an asyncio task: started once, cancelled on stop
(the housekeeping sweep of API processes, the webhook deliverer)."""

from __future__ import annotations

import asyncio


class BackgroundTask:
    """Runs ``_run`` in a task of its own from ``start`` until ``stop`` cancels it."""

    name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError
