"""Turning an engine's answer (or error) into the outcome the store keeps for the item."""

from __future__ import annotations

import random

from ..domain.decisions import DecisionResult
from ..domain.outcome import ChatOutput, DecisionOutput, EmbeddingOutput, ItemError, Timings, Usage
from ..domain.states import ErrorCode, ItemStatus
from ..engines.base import ChatResult, EmbeddingResult, EngineError
from ..store.queue import ClaimedItem, Outcome

# Jitter from a generator of its own: the global ``random`` state is left to whoever else uses it
# (threads drawing from it concurrently make Hypothesis-driven tests of a live server flaky).
_jitter = random.Random()


def completed(item: ClaimedItem, result: ChatResult, *, started: float, finished: float) -> Outcome:
    """What the engine produced, as it produced it (each surface renders its own shape)."""
    output = ChatOutput(
        text=result.text,
        finish_reason=result.finish_reason,
        usage=Usage(result.prompt_tokens, result.completion_tokens, result.cached_tokens, result.reasoning_tokens),
        timings=Timings(started_at=started, finished_at=finished),
        reasoning=result.reasoning,
        tool_calls=result.tool_calls,
    )
    return Outcome(item.id, ItemStatus.COMPLETED, output=output)


def engine_failure(
    item: ClaimedItem, error: EngineError, *, now: float, max_attempts: int, base_delay: float, max_delay: float
) -> Outcome:
    """Retry a transient error with exponential backoff while attempts and the deadline allow;
    fail the item otherwise."""
    if error.transient and item.attempts < max_attempts:
        delay = min(max_delay, base_delay * 2 ** (item.attempts - 1)) * _jitter.uniform(0.8, 1.2)
        if now + delay < item.deadline:
            return Outcome(
                item.id, ItemStatus.QUEUED, error=ItemError(error.code, error.message), not_before=now + delay
            )
    message = error.message
    if error.transient:
        message = f"{message} (gave up after {item.attempts} attempts)"
    return Outcome(item.id, ItemStatus.FAILED, error=ItemError(error.code, message))


def expired(item: ClaimedItem) -> Outcome:
    message = "the request did not finish within its completion window"
    return Outcome(item.id, ItemStatus.EXPIRED, error=ItemError(ErrorCode.BATCH_EXPIRED, message))


def crashed(item: ClaimedItem, exc: BaseException) -> Outcome:
    message = f"internal error while running the request: {type(exc).__name__}: {exc}"
    return Outcome(item.id, ItemStatus.FAILED, error=ItemError(ErrorCode.ENGINE_ERROR, message))


def released(item: ClaimedItem) -> Outcome:
    """Hand an unfinished item back on shutdown; the attempt does not count."""
    return Outcome(item.id, ItemStatus.QUEUED, refund_attempt=True)


def embedded(item: ClaimedItem, result: EmbeddingResult, *, started: float, finished: float) -> Outcome:
    output = EmbeddingOutput(
        vectors=result.vectors, usage=Usage(result.prompt_tokens, 0), timings=Timings(started, finished)
    )
    return Outcome(item.id, ItemStatus.COMPLETED, output=output)


def decided(item: ClaimedItem, result: DecisionResult, *, started: float, finished: float) -> Outcome:
    output = DecisionOutput(
        answers=result.answers, usage=Usage(result.input_tokens, 0), timings=Timings(started, finished)
    )
    return Outcome(item.id, ItemStatus.COMPLETED, output=output)
