"""OpenAI's shapes: File, Batch, batch output lines, Response, chat completion chunks."""

from __future__ import annotations

import json
from typing import Any

from ...domain.states import BatchStatus, ItemStatus
from ...timeutil import unix

CHAT_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
ENDPOINTS = (CHAT_ENDPOINT, RESPONSES_ENDPOINT)


def file_object(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes if row.bytes is not None else 0,
        "created_at": unix(row.created_at),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


def batch_status(batch: Any, validation_errors: Any) -> str:
    """Our batch status in OpenAI's words: validation failures are ``failed``; a window that ran
    out is ``expired`` (finished rows are still in the output); rows failing one by one leave
    the batch ``completed``, with them in the error file."""
    status = BatchStatus(batch.status)
    if status in (BatchStatus.PENDING, BatchStatus.RUNNING):
        return "in_progress"
    if status == BatchStatus.CANCELLED:
        return "cancelled"
    if validation_errors:
        return "failed"
    return "expired" if batch.expired_count else "completed"


def batch_object(batch: Any, extra: Any) -> dict[str, Any]:
    errors = json.loads(extra.errors) if extra.errors else None
    status = batch_status(batch, errors)
    finished = unix(batch.completed_at)
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": extra.endpoint,
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": extra.input_file_id,
        "completion_window": batch.window,
        "status": status,
        "output_file_id": extra.output_file_id,
        "error_file_id": extra.error_file_id,
        "created_at": unix(batch.created_at),
        "in_progress_at": unix(batch.created_at) if not errors else None,
        "expires_at": unix(batch.deadline),
        "finalizing_at": finished if status in ("completed", "expired") else None,
        "completed_at": finished if status == "completed" else None,
        "failed_at": finished if status == "failed" else None,
        "expired_at": finished if status == "expired" else None,
        "cancelling_at": unix(batch.cancelled_at),
        "cancelled_at": unix(batch.cancelled_at),
        "request_counts": {
            "total": batch.request_count,
            "completed": batch.completed_count,
            "failed": batch.failed_count + batch.expired_count,
        },
        "metadata": json.loads(extra.metadata) if extra.metadata else None,
        "model": batch.model or None,
    }


def output_line(item: Any, endpoint: str) -> str:
    result = json.loads(item.result)
    body = response_object(item) if endpoint == RESPONSES_ENDPOINT else result
    return json.dumps(
        {
            "id": f"batch_req_{item.id}",
            "custom_id": item.custom_id,
            "response": {"status_code": 200, "request_id": item.id, "body": body},
            "error": None,
        }
    )


def error_line(item: Any) -> str:
    error = json.loads(item.error) if item.error else {"code": item.status, "message": item.status}
    return json.dumps({"id": f"batch_req_{item.id}", "custom_id": item.custom_id, "response": None, "error": error})


RESPONSE_STATUS = {
    ItemStatus.QUEUED: "queued",
    ItemStatus.RUNNING: "in_progress",
    ItemStatus.FAILED: "failed",
    ItemStatus.EXPIRED: "failed",
    ItemStatus.CANCELLED: "cancelled",
}


def response_object(item: Any) -> dict[str, Any]:
    """An item as an OpenAI ``Response`` (message items with ``output_text`` content)."""
    body = json.loads(item.body)
    status = RESPONSE_STATUS.get(ItemStatus(item.status), "completed")
    output: list[dict[str, Any]] = []
    usage = None
    incomplete = None
    if item.result:
        result = json.loads(item.result)
        choice = result["choices"][0]
        if choice.get("finish_reason") == "length":
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        output = [
            {
                "type": "message",
                "id": f"msg_{item.id}",
                "status": "completed" if not incomplete else "incomplete",
                "role": "assistant",
                "content": [{"type": "output_text", "text": choice["message"]["content"] or "", "annotations": []}],
            }
        ]
        tokens = result.get("usage", {})
        usage = {
            "input_tokens": tokens.get("prompt_tokens", 0),
            "input_tokens_details": {"cached_tokens": tokens.get("prompt_tokens_details", {}).get("cached_tokens", 0)},
            "output_tokens": tokens.get("completion_tokens", 0),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tokens.get("total_tokens", 0),
        }
    error = json.loads(item.error) if item.error and status in ("failed", "cancelled") else None
    return {
        "id": item.id,
        "object": "response",
        "created_at": unix(item.created_at),
        "status": status,
        "background": item.priority != 0,
        "model": item.model,
        "output": output,
        "output_text": "".join(part["text"] for message in output for part in message["content"]),
        "usage": usage,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": None,
        "max_output_tokens": body.get("max_tokens"),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "metadata": json.loads(item.metadata) if item.metadata else {},
        "parallel_tool_calls": False,
        "tool_choice": "none",
        "tools": [],
        "text": {"format": {"type": "text"}},
    }


def completion_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """A finished ``chat.completion`` as the chunks of ``stream: true``."""
    choice = completion["choices"][0]
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": choice["message"]["content"]}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks
