"""Turning an engine's answer (or error) into what the store keeps for the item."""

from __future__ import annotations

import json
import random

from ..domain.states import ErrorCode, ItemStatus
from ..engines.base import ChatResult, EngineError
from ..store.queue import ClaimedItem, Outcome, error_json


def completed(item: ClaimedItem, result: ChatResult, created: float) -> Outcome:
    """The OpenAI ``chat.completion`` object for a finished item."""
    body = {
        "id": f"chatcmpl-{item.id}",
        "object": "chat.completion",
        "created": int(created),
        "model": item.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "logprobs": None,
                "finish_reason": result.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": result.cached_tokens},
        },
    }
    return Outcome(
        item.id,
        ItemStatus.COMPLETED,
        result=json.dumps(body, separators=(",", ":")),
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
    )


def engine_failure(
    item: ClaimedItem, error: EngineError, *, now: float, max_attempts: int, base_delay: float, max_delay: float
) -> Outcome:
    """Retry a transient error with exponential backoff while attempts and the deadline allow;
    fail the item otherwise."""
    if error.transient and item.attempts < max_attempts:
        delay = min(max_delay, base_delay * 2 ** (item.attempts - 1)) * random.uniform(0.8, 1.2)
        if now + delay < item.deadline:
            return Outcome(
                item.id, ItemStatus.QUEUED, error=error_json(error.code, error.message), not_before=now + delay
            )
    message = error.message
    if error.transient:
        message = f"{message} (gave up after {item.attempts} attempts)"
    return Outcome(item.id, ItemStatus.FAILED, error=error_json(error.code, message))


def expired(item: ClaimedItem) -> Outcome:
    message = "the request did not finish within its completion window"
    return Outcome(item.id, ItemStatus.EXPIRED, error=error_json(ErrorCode.BATCH_EXPIRED, message))


def crashed(item: ClaimedItem, exc: BaseException) -> Outcome:
    message = f"internal error while running the request: {type(exc).__name__}: {exc}"
    return Outcome(item.id, ItemStatus.FAILED, error=error_json(ErrorCode.ENGINE_ERROR, message))


def released(item: ClaimedItem) -> Outcome:
    """Hand an unfinished item back on shutdown; the attempt does not count."""
    return Outcome(item.id, ItemStatus.QUEUED, refund_attempt=True)
