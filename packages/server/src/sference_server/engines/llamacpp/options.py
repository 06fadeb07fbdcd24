"""Options of a ``llamacpp`` model (importable without loading llama.cpp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..options import refuse_unknown

WEIGHTS = ("original", "auto", "q8_0", "f16", "bf16")


@dataclass(frozen=True)
class LlamaCppOptions:
    """``options`` of a ``llamacpp`` model in the model registry."""

    path: str | None = None  # a GGUF file; default: the embedded SmolLM2-135M-Instruct
    slots: int = 32  # sequences decoded together
    ctx_per_slot: int = 2048  # prompt + completion tokens per request
    threads: int | None = None  # default: every CPU this process may use
    batch_tokens: int = 512  # most tokens in one decode step (prefill is chunked to fit)
    backlog: int | None = None  # requests queued beyond the slots; default: as many as slots
    temperature: float = 1.0  # defaults when a request does not say
    top_p: float = 1.0
    max_tokens: int | None = None  # default: the rest of the request's context
    # "original", or re-encode the weights once (cached) as "q8_0", "f16" or "bf16" for faster
    # batches; "auto": bf16 where the CPU kernels have a BF16 dot product, else f16 (kernels.py).
    weights: str = "original"

    def __post_init__(self) -> None:
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}; got {self.weights!r}")

    @classmethod
    def parse(cls, options: dict[str, Any]) -> LlamaCppOptions:
        refuse_unknown("llamacpp", options, cls)
        return cls(**options)

    @property
    def max_tokens_limit(self) -> int:
        return self.ctx_per_slot - 1
