"""What ``POST /v1/embeddings`` answers: OpenAI's embeddings list (render/embeddings.py)."""

from __future__ import annotations

from typing import Literal

from ..openapi import STRING, Wire, json_body, obj


class Embedding(Wire):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # base64 of little-endian float32 with encoding_format=base64


class EmbeddingUsage(Wire):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(Wire):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


CREATE_BODY = json_body(
    obj(
        ("model", "input"),
        model=STRING,
        input={"anyOf": [STRING, {"type": "array", "items": STRING}]},
        encoding_format={"enum": ["float", "base64"]},
        dimensions={"type": "integer", "minimum": 1},
    )
)
