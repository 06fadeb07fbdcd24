"""Options of a ``bert`` model (importable without loading the weights)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..options import refuse_unknown


@dataclass(frozen=True)
class BertOptions:
    """``options`` of a ``bert`` (sentence embeddings) model in the model registry."""

    path: str | None = None  # a sentence-transformers folder; default: the packaged all-MiniLM-L6-v2
    max_tokens: int = 256  # tokens per input the model reads (the model's max_seq_length)
    dimensions: int = 384  # the model's embedding size
    max_inputs: int = 2048  # inputs per request
    threads: int | None = None  # default: every CPU this process may use

    @classmethod
    def parse(cls, options: dict[str, Any]) -> BertOptions:
        refuse_unknown("bert", options, cls)
        return cls(**options)
