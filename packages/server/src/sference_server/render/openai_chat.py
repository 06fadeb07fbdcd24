"""OpenAI's chat completions surface: a finished item as a ``chat.completion`` and as the chunks
of ``stream: true``. The seed's results rows and completion events embed the same object."""

from __future__ import annotations

import json
from typing import Any

from ..store.records import Item


def chat_completion(item: Item) -> dict[str, Any]:
    """The ``chat.completion`` of a completed item (``created``: when the answer was complete)."""
    output = item.output
    assert output is not None, "only a completed item has a chat completion"
    usage = output.usage
    return {
        "id": f"chatcmpl-{item.id}",
        "object": "chat.completion",
        "created": int(output.timings.finished_at),
        "model": item.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": output.text},
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


def compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))


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
