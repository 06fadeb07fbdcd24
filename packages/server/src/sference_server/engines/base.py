"""The Engine protocol: what the worker needs from anything that runs a model.

The worker keeps ``capacity`` requests in flight per engine and awaits ``generate`` for each.
Engines batch internally (the llama.cpp engine decodes all its slots in one step; an
OpenAI-compatible upstream batches on its side). Cancelling the awaiting task aborts the
request and frees its slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ChatRequest:
    """A normalised chat body (see domain/chat.py), split into what engines read."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ChatRequest:
        known = {k: body[k] for k in _FIELDS if k in body}
        extra = {k: v for k, v in body.items() if k not in _FIELDS and k != "model"}
        return cls(**known, extra=extra)


_FIELDS = (
    "messages",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
)


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str  # "stop" | "length"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


class EngineError(Exception):
    """A request the engine could not run. ``transient`` errors are retried with backoff."""

    def __init__(self, code: str, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


class Engine(Protocol):
    model_id: str

    @property
    def capacity(self) -> int:
        """How many requests the worker should keep in flight (slots plus a short backlog)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def generate(self, request: ChatRequest, *, urgent: bool = False) -> ChatResult:
        """``urgent``: a client is waiting on the connection; run it before queued work."""
        ...
