"""What a finished request produced, in a neutral shape: stored once, rendered by every surface.

The worker stores ``ChatOutput`` (``items.result``) and ``ItemError`` (``items.error``) as JSON;
each surface renders its own wire format from them (render/). Nothing in the store is a wire
format, so a new surface or a new API version is a new renderer, not a data migration.

The stored JSON carries ``kind``: ``"chat"`` (``ChatOutput``), ``"embeddings"`` (an embedding
request's vectors, ``EmbeddingOutput``) or ``"decisions"`` (a decision's answers,
``DecisionOutput``); ``output_from_json`` reads any of them. Streamed deltas are never stored,
only the finished output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..compact_json import compact, compact_unicode


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
class ToolCall:
    """A function the model asked to call: ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ChatOutput:
    text: str
    finish_reason: str  # "stop" | "length" | "tool_calls"
    usage: Usage
    timings: Timings
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

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
        if self.tool_calls:
            document["tool_calls"] = [call.as_dict() for call in self.tool_calls]
        return compact_unicode(document)

    @classmethod
    def from_json(cls, text: str) -> ChatOutput:
        return cls.from_document(_document(text, cls.kind))

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ChatOutput:
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
            tool_calls=tuple(ToolCall(**call) for call in document.get("tool_calls", ())),
        )


@dataclass(frozen=True)
class EmbeddingOutput:
    """An embedding request's vectors, one per input in input order (already cut to the
    requested ``dimensions`` and of unit length); rendered as floats or base64 when read."""

    vectors: list[list[float]]
    usage: Usage  # prompt tokens only
    timings: Timings

    kind = "embeddings"

    def to_json(self) -> str:
        document = {
            "kind": self.kind,
            "vectors": self.vectors,
            "usage": {"prompt_tokens": self.usage.prompt_tokens},
            "timings": {"started_at": self.timings.started_at, "finished_at": self.timings.finished_at},
        }
        return compact(document)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> EmbeddingOutput:
        timings = document["timings"]
        return cls(
            vectors=document["vectors"],
            usage=Usage(document["usage"]["prompt_tokens"], 0),
            timings=Timings(timings["started_at"], timings["finished_at"]),
        )


@dataclass(frozen=True)
class DecisionOutput:
    """A decision's answers, question name -> answer object (domain/decisions.py makes them)."""

    answers: dict[str, dict[str, Any]]
    usage: Usage  # prompt tokens only: nothing is generated
    timings: Timings

    kind = "decisions"

    def to_json(self) -> str:
        document = {
            "kind": self.kind,
            "answers": self.answers,
            "usage": {"prompt_tokens": self.usage.prompt_tokens},
            "timings": {"started_at": self.timings.started_at, "finished_at": self.timings.finished_at},
        }
        return compact_unicode(document)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DecisionOutput:
        timings = document["timings"]
        return cls(
            answers=document["answers"],
            usage=Usage(document["usage"]["prompt_tokens"], 0),
            timings=Timings(timings["started_at"], timings["finished_at"]),
        )


Output = ChatOutput | EmbeddingOutput | DecisionOutput
_OUTPUT_KINDS: dict[str, Any] = {cls.kind: cls for cls in (ChatOutput, EmbeddingOutput, DecisionOutput)}


def output_from_json(text: str) -> Output:
    """A stored output of any kind."""
    document = json.loads(text)
    reader = _OUTPUT_KINDS.get(document.get("kind"))
    if reader is None:
        raise ValueError(f"stored result of unknown kind {document.get('kind')!r}")
    return reader.from_document(document)  # type: ignore[no-any-return]


def _document(text: str, kind: str) -> dict[str, Any]:
    document = json.loads(text)
    if document.get("kind") != kind:
        raise ValueError(f"stored result of kind {document.get('kind')!r} is not a {kind} output")
    return document  # type: ignore[no-any-return]


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


# What a cancelled batch's or stream's items end with.
BATCH_CANCELLED = ItemError("batch_cancelled", "the batch was cancelled before this request finished")
STREAM_CANCELLED = ItemError("stream_cancelled", "the stream was cancelled before this request started")
