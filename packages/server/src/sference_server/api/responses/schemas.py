"""What ``/v1/responses`` answers (contract §2.3; render/sference.py ``response``).

The ``output`` items differ by API version (domain/versions.py): ``flat`` (2025-10-01, the 0.0.4
clients) is ``{"type": "output_text", "text"}``; ``items`` (2026-11-01) is OpenAI's Responses
items, with ``incomplete`` and ``incomplete_details`` when the length limit cut the answer.
``Response`` describes both.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..openapi import RESPONSE_REQUEST, ItemError, Wire, json_body


class FlatOutput(Wire):
    type: Literal["output_text"]
    text: str


class OutputText(Wire):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]


class MessageItem(Wire):
    type: Literal["message"]
    id: str
    role: Literal["assistant"]
    status: Literal["completed", "incomplete"]
    content: list[OutputText]


class SummaryText(Wire):
    type: Literal["summary_text"]
    text: str


class ReasoningItem(Wire):
    type: Literal["reasoning"]
    id: str
    summary: list[SummaryText]


class FunctionCallItem(Wire):
    type: Literal["function_call"]
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["completed"]


class IncompleteDetails(Wire):
    reason: Literal["max_output_tokens"]


class ResponseUsage(Wire):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens_details: dict[str, int] | None = Field(default=None, description="2026-11-01")


class Response(Wire):
    id: str
    object: Literal["response"]
    created_at: int
    completed_at: int | None
    model: str
    status: Literal["in_progress", "completed", "incomplete", "failed", "cancelled"]
    output: list[FlatOutput | MessageItem | ReasoningItem | FunctionCallItem]
    error: ItemError | None
    usage: ResponseUsage | None
    metadata: dict[str, Any]
    custom_id: str | None
    stream_id: str | None
    batch_id: str | None
    incomplete_details: IncompleteDetails | None = Field(default=None, description="2026-11-01")


class ResponseSummary(Wire):
    id: str
    object: Literal["response"]
    created_at: int
    model: str
    status: Literal["in_progress", "completed", "failed", "cancelled"]


class ResponsePage(Wire):
    object: Literal["list"]
    data: list[ResponseSummary]
    has_more: bool
    first_id: str | None
    last_id: str | None


# ``POST /v1/responses`` answers 201 in API version 2025-10-01 and 200 since (domain/versions.py).
CREATED_SINCE_2026 = {"model": Response, "description": "Success (API version 2026-11-01 and later)"}


CREATE_BODY = json_body(RESPONSE_REQUEST)
