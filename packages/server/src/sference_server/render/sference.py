"""Wire shapes of batches (contract §2.2): built from store rows by named functions."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row

from ...timeutil import iso


def batch_to_wire(row: Row[Any]) -> dict[str, Any]:
    prompt, completion = int(row.prompt_tokens), int(row.completion_tokens)
    return {
        "id": row.id,
        "object": "batch",
        "status": row.status,
        "window": row.window,
        "model": row.model,
        "request_count": row.request_count,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "started_at": iso(row.started_at),
        "completed_at": iso(row.completed_at),
        "cancelled_at": iso(row.cancelled_at),
        "expires_at": iso(row.deadline),
        "total_prompt_tokens": prompt,
        "total_completion_tokens": completion,
        "total_tokens": prompt + completion,
        "request_counts": {
            "total": row.request_count,
            "queued": row.queued_count,
            "running": row.running_count,
            "completed": row.completed_count,
            "failed": row.failed_count,
            "cancelled": row.cancelled_count,
            "expired": row.expired_count,
        },
        "error": json.loads(row.error) if row.error else None,
    }


def result_row_json(row: Row[Any]) -> str:
    """One results row ``{custom_id, status, result_json, error_json}``; stored JSON is spliced in
    as is, never re-parsed."""
    return (
        f'{{"custom_id":{json.dumps(row.custom_id)},"status":"{row.status}",'
        f'"result_json":{row.result or "null"},"error_json":{row.error or "null"}}}'
    )
