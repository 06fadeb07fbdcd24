"""What a finished request produced, in a neutral shape: stored once, rendered by every surface.

The worker stores ``ChatOutput`` (``items.result``) and ``ItemError`` (``items.error``) as JSON;
each surface renders its own wire format from them (render/). Nothing in the store is a wire
format, so a new surface or a new API version is a new renderer, not a data migration.

The stored JSON carries ``kind``: ``"chat"`` today. Other kinds of work get their own kind (an
embedding's vectors, a decision's answer) with their own dataclass and ``from_json`` branch;
streamed deltas are never stored, only the finished output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens served from a prefix cache
    reasoning_tokens: int = 0  # completion tokens spent thinking

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Timings:
    """Unix seconds: when the engine started on the request, and when the answer was complete."""

    started_at: float
    finished_at: float


@dataclass(frozen=True)
class ChatOutput:
    text: str
    finish_reason: str  # "stop" | "length"
    usage: Usage
    timings: Timings
    reasoning: str | None = None

    kind = "chat"

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "kind": self.kind,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "cached_tokens": self.usage.cached_tokens,
                "reasoning_tokens": self.usage.reasoning_tokens,
            },
            "timings": {"started_at": self.timings.started_at, "finished_at": self.timings.finished_at},
        }
        if self.reasoning is not None:
            document["reasoning"] = self.reasoning
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ChatOutput:
        document = json.loads(text)
        kind = document.get("kind")
        if kind != cls.kind:
            raise ValueError(f"stored result of kind {kind!r} is not a chat output")
        usage, timings = document["usage"], document["timings"]
        return cls(
            text=document["text"],
            finish_reason=document["finish_reason"],
            usage=Usage(
                usage["prompt_tokens"],
                usage["completion_tokens"],
                usage.get("cached_tokens", 0),
                usage.get("reasoning_tokens", 0),
            ),
            timings=Timings(timings["started_at"], timings["finished_at"]),
            reasoning=document.get("reasoning"),
        )


@dataclass(frozen=True)
class ItemError:
    """Why a request did not complete (``items.error``): a code from ``ErrorCode`` and a message."""

    code: str
    message: str

    def to_json(self) -> str:
        # The default separators: these bytes are also what results rows embed.
        return json.dumps({"code": self.code, "message": self.message})

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_json(cls, text: str) -> ItemError:
        document = json.loads(text)
        return cls(str(document.get("code", "")), str(document.get("message", "")))
