"""Anthropic's Messages surface (``POST /v1/messages``): a finished item as a ``message``, an
answer as it is made as the events of ``stream: true``, and errors in Anthropic's shape.

A message's ``content`` is a ``text`` block (left out when the model only called tools), then a
``tool_use`` block per call with its arguments parsed (``input``). Stop reasons: ``length`` ->
``max_tokens``, ``tool_calls`` -> ``tool_use``, ``stop`` -> ``end_turn``, or ``stop_sequence``
when the request gave stop sequences: the engines report that the answer stopped, not what
stopped it, so ``stop_sequence`` names the sequence only when the request gave exactly one.
Usage: Anthropic counts prompt tokens read from a cache apart, so ``input_tokens`` excludes them.
"""

from __future__ import annotations

import json
from typing import Any

from ..domain.outcome import ChatOutput, ToolCall
from ..live import missed_text
from ..store.records import Item

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}

# An error's ``type`` by HTTP status (anything else: ``api_error`` from 500 up, else invalid).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def error_body(status_code: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status_code, "api_error" if status_code >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def tool_input(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as the object Anthropic's ``input`` is; text that is not a JSON object
    (a model's malformed call) is passed on whole as ``{"_raw_arguments": text}``."""
    try:
        parsed = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"_raw_arguments": call.arguments}


def stop_reason(output: ChatOutput, stops: list[str]) -> tuple[str, str | None]:
    """``(stop_reason, stop_sequence)`` of an answer to a request that gave ``stops``."""
    if output.finish_reason == "stop" and stops and not output.tool_calls:
        return "stop_sequence", stops[0] if len(stops) == 1 else None
    return STOP_REASONS.get(output.finish_reason, "end_turn"), None


def usage(output: ChatOutput) -> dict[str, Any]:
    tokens = output.usage
    return {
        "input_tokens": tokens.prompt_tokens - tokens.cached_tokens,
        "output_tokens": tokens.completion_tokens,
        "cache_read_input_tokens": tokens.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def message_object(item: Item) -> dict[str, Any]:
    """The ``message`` of a completed item."""
    output = item.chat_output
    assert output is not None, "only a completed chat item has a message"
    content: list[dict[str, Any]] = []
    if output.text or not output.tool_calls:
        content.append({"type": "text", "text": output.text})
    content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(c)} for c in output.tool_calls]
    reason, sequence = stop_reason(output, item.chat_body().get("stop", []))
    return {
        "id": f"msg_{item.id}",
        "type": "message",
        "role": "assistant",
        "model": item.model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage(output),
    }


Event = tuple[str, dict[str, Any]]


class MessageEvents:
    """The server-sent events of one streamed message, in Anthropic's order: ``message_start``
    and a ``ping``; a ``text`` block opened at the first piece of text (``content_block_start``,
    a ``text_delta`` per piece, ``content_block_stop``); at the end a ``tool_use`` block per call
    with its whole input as one ``input_json_delta``; ``message_delta`` with the stop reason and
    the usage; ``message_stop``. Each is ``(event type, data)``."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self.sent = ""
        self._blocks = 0  # content blocks opened so far
        self._text_open = False

    def opening(self) -> list[Event]:
        message: dict[str, Any] = {
            "id": f"msg_{self.item.id}",
            "type": "message",
            "role": "assistant",
            "model": self.item.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message}), ("ping", {"type": "ping"})]

    def text(self, piece: str) -> list[Event]:
        events = self._open_text()
        self.sent += piece
        events.append(self._event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece}))
        return events

    def _open_text(self) -> list[Event]:
        if self._text_open:
            return []
        self._text_open = True
        self._blocks += 1
        return [self._event("content_block_start", index=0, content_block={"type": "text", "text": ""})]

    def closing(self, item: Item) -> list[Event]:
        """What the pieces missed of the finished answer, its tool calls, and how it ended."""
        output = item.chat_output
        assert output is not None, "only a completed chat item closes a message"
        events = []
        if missed := missed_text(output.text, self.sent):
            events += self.text(missed)
        elif not output.tool_calls:
            events += self._open_text()  # an empty answer is still one (empty) text block
        if self._text_open:
            events.append(self._event("content_block_stop", index=0))
        for call in output.tool_calls:
            index = self._blocks
            self._blocks += 1
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            arguments = json.dumps(tool_input(call), separators=(",", ":"), ensure_ascii=False)
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events += [
                self._event("content_block_start", index=index, content_block=block),
                self._event("content_block_delta", index=index, delta=delta),
                self._event("content_block_stop", index=index),
            ]
        reason, sequence = stop_reason(output, item.chat_body().get("stop", []))
        events += [
            self._event("message_delta", delta={"stop_reason": reason, "stop_sequence": sequence}, usage=usage(output)),
            self._event("message_stop"),
        ]
        return events

    def _event(self, kind: str, **fields: Any) -> Event:
        return kind, {"type": kind, **fields}


def stream_error(status_code: int, message: str) -> Event:
    """What a stream carries when the request fails after its first event went out."""
    return "error", error_body(status_code, message)
