"""Options of a ``bert`` model (importable without loading the weights)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..options import refuse_unknown


@dataclass(frozen=True)
class BertOptions:
    """``options`` of a ``bert`` (sentence embeddings) model in the model registry (docs/embeddings.md)."""

    path: str | None = None  # a sentence-transformers folder, or a zip of one; default: the packaged all-MiniLM-L6-v2
    max_tokens: int = 256  # tokens per input the model reads, the rest is cut (the model's max_seq_length)
    dimensions: int = 384  # the model's embedding size
    max_inputs: int = 2048  # inputs per request
    threads: int | None = None  # threads a forward pass computes with; default: every CPU this process may use
    batch_size: int = 16  # inputs per forward pass (inputs of similar length go together)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                f.name != "path"
                and value is not None
                and (isinstance(value, bool) or not isinstance(value, int) or value < 1)
            ):
                raise ValueError(f"bert option {f.name} must be a positive integer; got {value!r}")

    @classmethod
    def parse(cls, options: dict[str, Any]) -> BertOptions:
        refuse_unknown("bert", options, cls)
        return cls(**options)
