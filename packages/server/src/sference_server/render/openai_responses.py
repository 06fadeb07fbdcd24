"""OpenAI's Responses surface: an item as a ``Response`` (message items with ``output_text``),
and an answer as it is made as the events of ``stream: true``."""

from __future__ import annotations

from typing import Any

from ..domain.states import ItemStatus, Priority
from ..live import missed_text
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
    chat = item.chat_output
    if chat is not None:
        if chat.finish_reason == "length":
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        output = [
            {
                "type": "message",
                "id": f"msg_{item.id}",
                "status": "completed" if not incomplete else "incomplete",
                "role": "assistant",
                "content": [{"type": "output_text", "text": chat.text, "annotations": []}],
            }
        ]
        tokens = chat.usage
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


class ResponseEvents:
    """The server-sent events of one streamed response, in OpenAI's order: ``response.created``,
    ``response.in_progress``, ``response.output_item.added``, ``response.content_part.added``,
    ``response.output_text.delta`` per piece, then ``response.output_text.done``,
    ``response.content_part.done``, ``response.output_item.done`` and ``response.completed``
    (``response.incomplete`` when cut by the length limit, ``response.failed`` on failure).
    Each is ``(event type, data)`` with a growing ``sequence_number``."""

    def __init__(self, item: Item) -> None:
        self.item_id = f"msg_{item.id}"
        self.sent = ""
        self._sequence = 0

    def _event(self, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return kind, event

    def _place(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": 0, "content_index": 0}

    def opening(self, item: Item) -> list[tuple[str, dict[str, Any]]]:
        response = {**response_object(item), "status": "in_progress"}
        message = {"id": self.item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        return [
            self._event("response.created", response=response),
            self._event("response.in_progress", response=response),
            self._event("response.output_item.added", output_index=0, item=message),
            self._event(
                "response.content_part.added",
                **self._place(),
                part={"type": "output_text", "text": "", "annotations": []},
            ),
        ]

    def text(self, piece: str) -> tuple[str, dict[str, Any]]:
        self.sent += piece
        return self._event("response.output_text.delta", **self._place(), delta=piece, logprobs=[])

    def closing(self, item: Item) -> list[tuple[str, dict[str, Any]]]:
        response = response_object(item)
        if response["status"] not in ("completed", "incomplete"):
            return [self._event("response.failed", response=response)]
        text = response["output_text"]
        events = []
        if missed := missed_text(text, self.sent):
            events.append(self.text(missed))
        message = response["output"][0]
        part = message["content"][0]
        events += [
            self._event("response.output_text.done", **self._place(), text=text, logprobs=[]),
            self._event("response.content_part.done", **self._place(), part=part),
            self._event("response.output_item.done", output_index=0, item=message),
            self._event(f"response.{response['status']}", response=response),
        ]
        return events
