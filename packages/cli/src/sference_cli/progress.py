"""Showing a batch's progress on stderr while waiting: a live bar on a terminal, plain status
lines otherwise (when the status or the counts change, and at least once a minute). The time
left is the server's estimate (``estimated_completion_at``: its measured throughput and the work
queued ahead), not a guess from this client's polls."""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
                TextColumn("{task.fields[eta]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.batch_id[:13], total=None, rate="", eta="ETA ?")
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
                eta=f"ETA {time_left(batch.estimated_completion_at, time.time()) or '?'}",
            )
            return
        key = (batch.status, done)
        if force or key != self._last_line or time.monotonic() - self._last_time >= QUIET_LINE_EVERY:
            counted = f" {done}/{batch.request_count} done" if counts else ""
            eta = eta_text(batch.estimated_completion_at, time.time())
            typer.echo(f"Batch {batch.id} status={batch.status}{counted} ({elapsed:.0f}s){eta}", err=True)
            self._last_line, self._last_time = key, time.monotonic()


def eta_text(estimate: str | None, now: float) -> str:
    """`` ETA 17:45:12 UTC (in 1m 40s)``, or nothing without an estimate (unknown, finished,
    or a server that makes none)."""
    left = time_left(estimate, now)
    if estimate is None or left is None:
        return ""
    at = datetime.fromisoformat(estimate).astimezone(UTC)
    return f" ETA {at:%H:%M:%S} UTC (in {left})"


def time_left(estimate: str | None, now: float) -> str | None:
    """How long until ``estimate`` (an ISO-8601 time): ``45s``, ``1m 40s``, ``2h 05m``, ``3d 4h``;
    ``now`` once it has passed (a batch running late); None without an estimate."""
    if estimate is None:
        return None
    seconds = round(datetime.fromisoformat(estimate).timestamp() - now)
    if seconds <= 0:
        return "now"
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d {hrs}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
