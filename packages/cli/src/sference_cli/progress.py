"""Showing a batch's progress on stderr while waiting: a live bar on a terminal, plain status
lines otherwise (when the status or the counts change, and at least once a minute)."""

from __future__ import annotations

import time
from types import TracebackType

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sference_sdk import Batch

from .errors import stderr_is_terminal

QUIET_LINE_EVERY = 60.0


class BatchProgress:
    def __init__(self, batch_id: str, *, live: bool | None = None) -> None:
        self.batch_id = batch_id
        self.live = stderr_is_terminal() if live is None else live
        self.started = time.monotonic()
        self._last_line: tuple[str, int] | None = None
        self._last_time = 0.0
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BatchProgress:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.batch_id[:13], total=None, rate="")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)

    def update(self, batch: Batch, *, force: bool = False) -> None:
        counts = batch.request_counts
        done = counts.finished if counts else (batch.request_count if batch.is_terminal else 0)
        elapsed = time.monotonic() - self.started
        if self._bar is not None and self._task is not None:
            rate = f"{done / elapsed:.1f} req/s" if elapsed > 1 and done else ""
            self._bar.update(
                self._task,
                total=batch.request_count,
                completed=done,
                description=f"{self.batch_id[:13]} {batch.status}",
                rate=rate,
            )
            return
        key = (batch.status, done)
        if force or key != self._last_line or time.monotonic() - self._last_time >= QUIET_LINE_EVERY:
            counted = f" {done}/{batch.request_count} done" if counts else ""
            typer.echo(f"Batch {batch.id} status={batch.status}{counted} ({elapsed:.0f}s)", err=True)
            self._last_line, self._last_time = key, time.monotonic()
