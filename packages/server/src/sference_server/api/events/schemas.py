"""Wire shape of a completion event (contract §2.4, ``StreamInferenceCompletionEvent``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row

from ...timeutil import iso


def event_to_wire(row: Row[Any]) -> dict[str, Any]:
    prompt, completion = row.prompt_tokens, row.completion_tokens
    return {
        "object": "response.completion",
        "completion_id": row.id,
        "response_id": row.item_id,
        "custom_id": row.custom_id,
        "status": row.status,
        "result": json.loads(row.result) if row.result else None,
        "error": json.loads(row.error) if row.error and row.status != "completed" else None,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": None if prompt is None or completion is None else prompt + completion,
        "completed_at": iso(row.created_at),
        "model": row.model,
        "batch_id": row.batch_id,
        "stream_id": row.stream_id,
    }
