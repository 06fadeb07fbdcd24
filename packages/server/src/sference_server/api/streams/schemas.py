"""Request and response bodies of the streams API (contract §2.5; rendered by render/sference.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ...json_input import PlainText
from ..openapi import Wire


class StreamCreate(BaseModel):
    name: PlainText = Field(min_length=1, max_length=200)
    window: Literal["1h", "24h"] = "24h"
    # Each item that completes sends a ``response.completed`` webhook (docs/api.md "Webhooks").
    webhook_responses: bool = False


class StreamPatch(BaseModel):
    name: PlainText | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["cancelled", "archived"] | None = None
    webhook_responses: bool | None = None


class StreamSummary(Wire):
    id: str
    object: Literal["stream"]
    name: str
    window: str
    status: Literal["open", "cancelled", "archived"]
    created_at: str
    updated_at: str | None


class Stream(StreamSummary):
    cancelled_at: str | None
    archived_at: str | None
    total_items: int
    pending_items: int
    running_items: int
    completed_items: int
    failed_items: int
    cancelled_items: int
    expired_items: int
    completion_ratio: float
    total_prompt_tokens: int
    total_completion_tokens: int
    total_tokens: int
    last_completion_at: str | None
    latest_completion_id: str | None
    webhook_responses: bool
    estimated_completion_at: str | None  # while requests are queued or running, when known


class StreamPage(Wire):
    """Newest first; ``next_before`` is the ``before`` of the next page."""

    object: Literal["list"]
    items: list[StreamSummary]
    has_more: bool
    next_before: str | None
