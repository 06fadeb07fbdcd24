"""Wire shapes of streams (contract §2.5)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Row

from ...timeutil import iso


class StreamCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    window: Literal["1h", "24h"] = "24h"


class StreamPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["cancelled", "archived"] | None = None


def stream_summary(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "stream",
        "name": row.name,
        "window": row.window,
        "status": row.status,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def stream_detail(row: Row[Any], latest: Row[Any] | None) -> dict[str, Any]:
    finished = row.completed_count + row.failed_count + row.cancelled_count + row.expired_count
    prompt, completion = int(row.prompt_tokens), int(row.completion_tokens)
    return {
        **stream_summary(row),
        "cancelled_at": iso(row.cancelled_at),
        "archived_at": iso(row.archived_at),
        "total_items": row.request_count,
        "pending_items": row.queued_count,
        "running_items": row.running_count,
        "completed_items": row.completed_count,
        "failed_items": row.failed_count + row.expired_count,
        "cancelled_items": row.cancelled_count,
        "expired_items": row.expired_count,
        "completion_ratio": finished / row.request_count if row.request_count else 0.0,
        "total_prompt_tokens": prompt,
        "total_completion_tokens": completion,
        "total_tokens": prompt + completion,
        "last_completion_at": iso(latest.created_at) if latest else None,
        "latest_completion_id": latest.id if latest else None,
    }
