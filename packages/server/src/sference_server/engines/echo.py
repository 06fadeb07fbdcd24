"""``echo``: a deterministic engine for fast tests and demos. Never the default.

It answers with the words of the last user message ("echo: ..."), one word per token, and can
sleep per token to imitate decode time. Markers in the last user message exercise the worker's
error paths: ``[[fail:permanent]]`` fails the request; ``[[fail:transient:N]]`` fails its first
N attempts in this process with a transient error.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .base import ChatRequest, ChatResult, EngineError, TextSink
from .options import refuse_unknown

_TRANSIENT = re.compile(r"\[\[fail:transient:(\d+)\]\]")

MAX_TOKENS = 4096  # the most ``max_tokens`` a request may ask of an echo model


@dataclass(frozen=True)
class EchoOptions:
    """``options`` of an ``echo`` model in the model registry."""

    slots: int = 8  # requests answered at once (the engine holds twice as many)
    token_delay: float = 0.0  # seconds slept per answered word, to imitate decode time

    @classmethod
    def parse(cls, options: dict[str, Any]) -> EchoOptions:
        refuse_unknown("echo", options, cls)
        return cls(**options)


class EchoEngine:
    def __init__(self, model_id: str, *, slots: int = 8, token_delay: float = 0.0) -> None:
        self.model_id = model_id
        self.slots = slots
        self.token_delay = token_delay
        self._semaphore = asyncio.Semaphore(slots)
        self._attempts: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests it held at once (tests check the worker's bound)

    @property
    def capacity(self) -> int:
        return self.slots * 2

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def state(self) -> str:
        return "ready"

    async def generate(
        self, request: ChatRequest, *, urgent: bool = False, on_text: TextSink | None = None
    ) -> ChatResult:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._generate(request, on_text)
        finally:
            self.in_flight -= 1

    async def _generate(self, request: ChatRequest, on_text: TextSink | None) -> ChatResult:
        last = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")
        if "[[fail:permanent]]" in last:
            raise EngineError("invalid_request", "the echo engine was asked to fail", transient=False)
        match = _TRANSIENT.search(last)
        if match:
            self._attempts[last] += 1
            if self._attempts[last] <= int(match.group(1)):
                raise EngineError("engine_error", "the echo engine failed on purpose", transient=True)
        words = ["echo:", *last.split()]
        limit = request.max_tokens or len(words)
        out = words[:limit]
        finish = "length" if len(words) > limit else "stop"
        for stop in request.stop:
            text = " ".join(out)
            if stop in text:
                out = text[: text.index(stop)].split()
                finish = "stop"
        async with self._semaphore:
            if on_text is not None:  # word by word, as a model would
                for index, word in enumerate(out):
                    await asyncio.sleep(self.token_delay)
                    on_text(word if index == 0 else f" {word}")
            elif self.token_delay:
                await asyncio.sleep(self.token_delay * len(out))
        prompt_tokens = sum(len(str(m["content"]).split()) + 1 for m in request.messages)
        return ChatResult(" ".join(out), finish, prompt_tokens, len(out))
