"""OpenAI's chat completions surface: a finished item as a ``chat.completion``, and an answer
as it is made as the chunks of ``stream: true``. The seed's results rows and completion events
embed the same object.

An answer that calls tools carries them as ``message.tool_calls`` (its ``content`` is ``null``
when the model wrote no text); a stream sends them whole, in one chunk before the finish reason.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..domain.outcome import ChatOutput, Output, ToolCall
from ..live import missed_text
from ..store.records import Item


class Answered(Protocol):
    """What rendering a finished item's answer reads: an ``Item``, or a ``ResultRow``."""

    @property
    def id(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def output(self) -> Output | None: ...
    @property
    def body(self) -> str | None: ...


def tool_call(call: ToolCall) -> dict[str, Any]:
    """One call as chat completions spell it."""
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def chat_completion(item: Answered) -> dict[str, Any]:
    """The ``chat.completion`` of a completed item (``created``: when the answer was complete)."""
    output = item.output
    assert isinstance(output, ChatOutput), "only a completed chat item has a chat completion"
    usage = output.usage
    message: dict[str, Any] = {"role": "assistant", "content": output.text}
    if output.tool_calls:
        message["content"] = output.text or None
        message["tool_calls"] = [tool_call(call) for call in output.tool_calls]
    return {
        "id": f"chatcmpl-{item.id}",
        "object": "chat.completion",
        "created": int(output.timings.finished_at),
        "model": item.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": output.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        },
    }


class ChatChunks:
    """The ``chat.completion.chunk`` objects of one streamed answer, as OpenAI sends them: a first
    chunk with the role, one per piece of text, one with the finish reason, and (``include_usage``)
    a last one with the usage and no choices, every other chunk then carrying ``"usage": null``."""

    def __init__(self, item: Item, *, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.sent = ""
        self._base: dict[str, Any] = {
            "id": f"chatcmpl-{item.id}",
            "object": "chat.completion.chunk",
            "created": int(item.created_at),
            "model": item.model,
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def opening(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def text(self, piece: str) -> dict[str, Any]:
        self.sent += piece
        return self._chunk({"content": piece})

    def closing(self, item: Item) -> list[dict[str, Any]]:
        """What the pieces missed of the finished answer, its tool calls, its finish reason, and
        its usage."""
        completion = chat_completion(item)
        message = completion["choices"][0]["message"]
        chunks = []
        if missed := missed_text(message["content"] or "", self.sent):
            chunks.append(self.text(missed))
        if "tool_calls" in message:
            calls = [{"index": index, **call} for index, call in enumerate(message["tool_calls"])]
            chunks.append(self._chunk({"tool_calls": calls}))
        chunks.append(self._chunk({}, completion["choices"][0]["finish_reason"]))
        if self.include_usage:
            chunks.append({**self._base, "choices": [], "usage": completion["usage"]})
        return chunks


def stream_error(code: str, message: str) -> dict[str, Any]:
    """What a stream carries when the request fails after its first chunk went out."""
    return {"error": {"message": message, "type": "server_error", "code": code}}
