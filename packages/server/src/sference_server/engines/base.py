"""The Engine protocol: what the worker needs from anything that runs a model.

The worker keeps ``capacity`` requests in flight per engine and awaits ``generate`` for each.
Engines batch internally (the llama.cpp engine decodes all its slots in one step; an
OpenAI-compatible upstream batches on its side). Cancelling the awaiting task aborts the
request and frees its slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..domain.decisions import DecisionRequest, DecisionResult
from ..domain.outcome import ToolCall
from ..domain.sampling import SAMPLING_FIELDS, SamplingParams


@dataclass(frozen=True)
class ChatRequest:
    """A normalised chat body (see domain/chat.py), split into what engines read."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    extra: dict[str, Any] = field(default_factory=dict)  # anything else the body carried
    stream: bool = False  # a client reads the answer as it is made (the worker relays its text)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ChatRequest:
        extra = {k: v for k, v in body.items() if k not in _OWN_FIELDS and k not in SAMPLING_FIELDS}
        return cls(
            messages=body["messages"],
            max_tokens=body.get("max_tokens"),
            stop=body.get("stop", []),
            sampling=SamplingParams.from_body(body),
            extra=extra,
            stream=bool(body.get("stream")),
        )


_OWN_FIELDS = frozenset({"model", "messages", "max_tokens", "stop", "stream"})

# Receives the answer's text piece by piece as the engine makes it (from any thread). The pieces
# joined are a prefix of ``ChatResult.text``: text that may still turn out to be part of a stop
# sequence is held back, and what was not sent comes with the result. An engine that runs a
# request again (a retry) does not send the text it already sent.
TextSink = Callable[[str], None]


class TextRelay:
    """Passes an engine's text on to a sink once: when the request runs again (a retry, a
    preempted sequence), the new run's text is sent only past what the earlier runs sent."""

    def __init__(self, sink: TextSink) -> None:
        self.sink = sink
        self.sent = 0  # characters sent, over every run
        self.made = 0  # characters this run has made

    def restart(self) -> None:
        self.made = 0

    def __call__(self, text: str) -> None:
        start = self.made
        self.made += len(text)
        fresh = text[max(0, self.sent - start) :]
        if fresh:
            self.sent += len(fresh)
            self.sink(fresh)


@dataclass(frozen=True)
class ChatResult:
    """What an engine produced for one request."""

    text: str
    finish_reason: str  # "stop" | "length" | "tool_calls"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning: str | None = None  # a reasoning model's thinking, when the engine separates it
    reasoning_tokens: int = 0
    tool_calls: tuple[ToolCall, ...] = ()  # functions the model asked to call (engines with tools)


@dataclass(frozen=True)
class EmbeddingRequest:
    """Texts to embed (a normalised embeddings body, domain/embeddings.py)."""

    inputs: list[str]
    dimensions: int | None = None  # cut each vector to this many dimensions (then unit length again)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> EmbeddingRequest:
        return cls(inputs=body["input"], dimensions=body.get("dimensions"))


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]  # one per input, in order, each of unit length
    prompt_tokens: int


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

    def state(self) -> str:
        """``ready``, or a sentence saying why not (``/v1/health/ready`` reports it)."""
        ...

    async def generate(
        self, request: ChatRequest, *, urgent: bool = False, on_text: TextSink | None = None
    ) -> ChatResult:
        """``urgent``: a client is waiting on the connection; run it before queued work.
        ``on_text``: where to send the text as it is made (a streaming client reads it)."""
        ...


class EmbeddingEngine(Engine, Protocol):
    """An engine of a ``text_embedding`` model (its ``generate`` refuses chat requests)."""

    async def embed(self, request: EmbeddingRequest, *, urgent: bool = False) -> EmbeddingResult: ...


class DecisionEngine(Engine, Protocol):
    """An engine of a ``decisions`` model: answers questions from the model's next-token
    probabilities over each question's labels (domain/decisions.py)."""

    async def decide(self, request: DecisionRequest, *, urgent: bool = False) -> DecisionResult: ...
