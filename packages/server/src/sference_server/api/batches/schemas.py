"""What the batches API answers (contract §2.2; rendered by render/sference.py)."""

from __future__ import annotations

from typing import Any, Literal

from ..openapi import CHAT, STRING, ItemError, Wire, json_body, obj

BatchStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
ItemStatus = Literal["queued", "running", "completed", "failed", "cancelled", "expired"]


class CachedTokens(Wire):
    cached_tokens: int


class ReasoningTokens(Wire):
    reasoning_tokens: int


class BatchUsage(Wire):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: CachedTokens
    output_tokens_details: ReasoningTokens
    cached_share: float


class BatchRequestCounts(Wire):
    total: int
    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int
    expired: int


class Batch(Wire):
    id: str
    object: Literal["batch"]
    status: BatchStatus
    window: str
    model: str | None
    request_count: int
    created_at: str
    updated_at: str | None
    started_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    expires_at: str | None
    estimated_completion_at: str | None  # while queued or running, when the throughput is known
    total_prompt_tokens: int
    total_completion_tokens: int
    total_tokens: int
    usage: BatchUsage
    request_counts: BatchRequestCounts
    error: ItemError | None
    retry_of: str | None  # the batch whose failed, expired and cancelled rows this one re-runs


class SubmittedBatch(Batch):
    """``feasible``: whether the estimate at submission finishes inside the window (null: no
    estimate)."""

    feasible: bool | None


class BatchPage(Wire):
    """Newest first; ``next_before`` is the ``before`` of the next page."""

    object: Literal["list"]
    items: list[Batch]
    has_more: bool
    next_before: str | None


class ResultRow(Wire):
    """One request's outcome; ``result_json`` is its answer (a chat completion, an embeddings
    list or a decision)."""

    custom_id: str | None
    status: ItemStatus
    result_json: dict[str, Any] | None
    error_json: ItemError | None


class ResultsDocument(Wire):
    """``results`` is null until the batch finished."""

    batch_id: str
    status: BatchStatus
    output_url: str
    completed_at: str | None
    results: list[ResultRow] | None


RESULT_LINES = {"application/x-ndjson": {"schema": {"type": "string", "description": "a ResultRow a line"}}}


# ``POST /v1/batches`` (contract §2.1): each request's ``body`` a chat request (or Responses shape).
CREATE_BODY = json_body(
    obj(
        ("requests",),
        window=STRING,
        require_feasible={"type": ["boolean", "null"]},
        requests={"type": "array", "items": obj(("body",), custom_id={"type": ["string", "null"]}, body=CHAT)},
    )
)
