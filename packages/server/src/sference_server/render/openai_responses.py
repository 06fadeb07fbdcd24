"""OpenAI's Responses surface: an item as a ``Response`` (message items with ``output_text``)."""

from __future__ import annotations

from typing import Any

from ..domain.states import ItemStatus, Priority
from ..store.records import Item
from ..timeutil import unix

# How an item's status reads as an OpenAI Response (a completed one may still be ``incomplete``).
RESPONSE_STATUS = {
    ItemStatus.QUEUED: "queued",
    ItemStatus.RUNNING: "in_progress",
    ItemStatus.COMPLETED: "completed",
    ItemStatus.FAILED: "failed",
    ItemStatus.EXPIRED: "failed",
    ItemStatus.CANCELLED: "cancelled",
}


def response_object(item: Item) -> dict[str, Any]:
    body = item.chat_body()
    status = RESPONSE_STATUS[item.status]
    output: list[dict[str, Any]] = []
    usage = None
    incomplete = None
    if item.output is not None:
        if item.output.finish_reason == "length":
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        output = [
            {
                "type": "message",
                "id": f"msg_{item.id}",
                "status": "completed" if not incomplete else "incomplete",
                "role": "assistant",
                "content": [{"type": "output_text", "text": item.output.text, "annotations": []}],
            }
        ]
        tokens = item.output.usage
        usage = {
            "input_tokens": tokens.prompt_tokens,
            "input_tokens_details": {"cached_tokens": tokens.cached_tokens},
            "output_tokens": tokens.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": tokens.reasoning_tokens},
            "total_tokens": tokens.total_tokens,
        }
    error = item.error.as_dict() if item.error and status in ("failed", "cancelled") else None
    return {
        "id": item.id,
        "object": "response",
        "created_at": unix(item.created_at),
        "status": status,
        "background": item.priority != Priority.INTERACTIVE,
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
        "metadata": item.metadata or {},
        "parallel_tool_calls": False,
        "tool_choice": "none",
        "tools": [],
        "text": {"format": {"type": "text"}},
    }
