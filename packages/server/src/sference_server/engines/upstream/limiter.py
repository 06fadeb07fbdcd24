"""How many requests one replica should have in flight, found while it runs.

An AIMD limit on the latency per generated token. A continuous-batching server (vLLM, SGLang,
llama-server) answers more requests at once at about the same speed per token until its batch
is full; beyond that, requests wait in its queue and the time per token of each answer grows.
So the limit grows while the recent time per token stays within ``tolerance`` of the best the
replica has shown lately, and backs off when it does not:

- slow start: +1 per completed request (the limit doubles every round trip) until the first
  sign of congestion, then +1 per round trip (``limit`` completions);
- congestion (time per token over ``tolerance`` x baseline): x0.9, at most once per round trip;
- throttling (429/503) or a failure (timeout, 5xx, lost connection): x0.5 / x0.7, at most once
  a second; ``Retry-After`` pauses the replica until then.

The limit grows only while it is what holds the traffic back (requests in flight near it), so
an idle period does not inflate it.
"""

from __future__ import annotations

import bisect
from collections import deque

BASELINE_WINDOW = 200  # recent answers the baseline is taken from
BASELINE_PERCENTILE = 0.1
RECENT_WEIGHT = 0.1  # of each new answer in the recent time per token
CONGESTION_FACTOR = 0.9
THROTTLE_FACTOR = 0.5
FAILURE_FACTOR = 0.7
DEFAULT_RETRY_AFTER = 1.0


class AdaptiveLimit:
    def __init__(self, initial: int, maximum: int, tolerance: float, *, minimum: int = 1) -> None:
        self.initial = initial
        self.minimum = minimum
        self.maximum = maximum
        self.tolerance = tolerance
        self.reset()

    def reset(self) -> None:
        self._limit = float(self.initial)
        self._slow_start = True
        self._samples: deque[float] = deque(maxlen=BASELINE_WINDOW)
        self._sorted: list[float] = []
        self._recent: float | None = None
        self._since_decrease = 0
        self._last_cut = float("-inf")
        self.paused_until = 0.0

    @property
    def value(self) -> int:
        return int(self._limit)

    def baseline(self) -> float | None:
        if not self._sorted:
            return None
        return self._sorted[int(len(self._sorted) * BASELINE_PERCENTILE)]

    def on_answer(self, seconds: float, tokens: int, *, in_flight: int) -> None:
        """A request finished after ``seconds`` with ``tokens`` generated, ``in_flight`` still running."""
        per_token = seconds / max(tokens, 1)
        self._remember(per_token)
        self._recent = per_token if self._recent is None else self._recent + RECENT_WEIGHT * (per_token - self._recent)
        self._since_decrease += 1
        baseline = self.baseline()
        congested = baseline is not None and len(self._samples) >= 10 and self._recent > self.tolerance * baseline
        if congested:
            if self._since_decrease >= self._limit:  # once per round trip
                self._cut(CONGESTION_FACTOR)
                self._slow_start = False
            return
        if in_flight + 1 >= self._limit * 0.8:  # the limit, not the demand, holds the traffic
            step = 1.0 if self._slow_start else 1.0 / self._limit
            self._limit = min(float(self.maximum), self._limit + step)

    def on_throttled(self, retry_after: float | None, *, now: float) -> None:
        self.paused_until = max(self.paused_until, now + (retry_after or DEFAULT_RETRY_AFTER))
        self._cut_once_a_second(THROTTLE_FACTOR, now)

    def on_failure(self, *, now: float) -> None:
        self._cut_once_a_second(FAILURE_FACTOR, now)

    def _cut_once_a_second(self, factor: float, now: float) -> None:
        if now - self._last_cut >= 1.0:
            self._last_cut = now
            self._cut(factor)
            self._slow_start = False

    def _cut(self, factor: float) -> None:
        self._limit = max(float(self.minimum), self._limit * factor)
        self._since_decrease = 0

    def _remember(self, per_token: float) -> None:
        if len(self._samples) == self._samples.maxlen:
            oldest = self._samples[0]
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
        self._samples.append(per_token)
        bisect.insort(self._sorted, per_token)
