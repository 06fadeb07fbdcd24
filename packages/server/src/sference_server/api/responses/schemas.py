"""Wire shapes of responses (contract §2.3, the sference-sdk 0.0.4 ``Response``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row

from ...domain.states import RESPONSE_STATUS, ItemStatus
from ...timeutil import unix


def response_to_wire(row: Row[Any]) -> dict[str, Any]:
    """An item seen through the Responses API. ``output`` uses the flat 0.0.4 item shape."""
    status = ItemStatus(row.status)
    result = json.loads(row.result) if row.result else None
    output: list[dict[str, Any]] = []
    usage = None
    if result is not None:
        output = [{"type": "output_text", "text": result["choices"][0]["message"]["content"] or ""}]
        tokens = result.get("usage", {})
        usage = {
            "input_tokens": tokens.get("prompt_tokens", 0),
            "output_tokens": tokens.get("completion_tokens", 0),
            "total_tokens": tokens.get("total_tokens", 0),
            "input_tokens_details": {"cached_tokens": tokens.get("prompt_tokens_details", {}).get("cached_tokens", 0)},
        }
    return {
        "id": row.id,
        "object": "response",
        "created_at": unix(row.created_at),
        "completed_at": unix(row.completed_at),
        "model": row.model,
        "status": RESPONSE_STATUS[status],
        "output": output,
        "error": json.loads(row.error) if row.error and status != ItemStatus.COMPLETED else None,
        "usage": usage,
        "metadata": json.loads(row.metadata) if row.metadata else {},
        "custom_id": row.custom_id,
        "stream_id": row.stream_id,
        "batch_id": row.batch_id,
    }


def response_summary(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "response",
        "created_at": unix(row.created_at),
        "model": row.model,
        "status": RESPONSE_STATUS[ItemStatus(row.status)],
    }
