"""Measured throughput and completion estimates: pure arithmetic, no store (docs/api.md,
"Completion estimates").

Throughput is measured from requests that completed recently: how many finished, divided by the
time the model was busy with them (the union of their ``[started_at, completed_at]`` spans). Busy
time rather than the whole window, so an idle quarter of an hour before a batch does not make the
model look slow; a model that only ever ran one request at a time measures that rate, and
estimates stay pessimistic until it has run with its slots full.

An estimate is ``now + work / rate``, where ``work`` counts the queued requests that go before or
alongside the object's last one, plus every running request of the model. By Little's law the
running ones (``L = rate x time a request spends running``) add exactly the time the last queued
request will spend running once claimed, so they are counted whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finished:
    """A request that completed: its model, when it was claimed and finished, its output tokens."""

    model: str
    started_at: float
    completed_at: float
    completion_tokens: int


@dataclass(frozen=True)
class Throughput:
    """What one model did while busy: ``requests`` completed in ``busy_seconds``."""

    requests: int
    completion_tokens: int
    busy_seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.busy_seconds

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.busy_seconds


# Spans shorter than this (an engine answering in microseconds) still count as this long, so a
# burst of instant answers cannot make a rate of millions per second.
MIN_BUSY_SECONDS = 0.01


def measure(finished: Iterable[Finished]) -> dict[str, Throughput]:
    """The throughput of each model that completed anything in ``finished``."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    tokens: dict[str, int] = defaultdict(int)
    for item in finished:
        spans[item.model].append((item.started_at, max(item.completed_at, item.started_at)))
        tokens[item.model] += item.completion_tokens
    return {
        model: Throughput(len(found), tokens[model], max(busy_seconds(found), MIN_BUSY_SECONDS))
        for model, found in spans.items()
    }


def busy_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """The length of the union of ``(start, end)`` spans."""
    total = 0.0
    current_start: float | None = None
    current_end = 0.0
    for start, end in sorted(spans):
        if current_start is None or start > current_end:
            if current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None:
        total += current_end - current_start
    return total


def completion_at(now: float, work: int, throughput: Throughput | None) -> float | None:
    """When ``work`` requests of a model will have finished at its measured rate; None without a
    measurement (a cold start: no made-up number)."""
    if throughput is None:
        return None
    return now + work / throughput.requests_per_second


def feasible(estimate: float | None, deadline: float) -> bool | None:
    """Whether an estimate finishes by the deadline; None when there is no estimate."""
    return None if estimate is None else estimate <= deadline
