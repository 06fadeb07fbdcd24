"""What ``GET /v1/responses/events`` answers (contract §2.4 ``StreamInferenceCompletionEvent``)."""

from __future__ import annotations

from typing import Any, Literal

from ..openapi import ItemError, Wire


class CompletionEvent(Wire):
    """A request that finished; ``result`` is its answer (a chat completion, an embeddings list
    or a decision)."""

    object: Literal["response.completion"]
    completion_id: str
    response_id: str
    custom_id: str | None
    status: Literal["completed", "failed", "cancelled", "expired"]
    result: dict[str, Any] | None
    error: ItemError | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    completed_at: str | None
    model: str
    batch_id: str | None
    stream_id: str | None


class EventPage(Wire):
    object: Literal["list"]
    data: list[CompletionEvent]
    has_more: bool
