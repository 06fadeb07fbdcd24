"""Embedding vectors in OpenAI's embeddings-list shape (``POST /v1/embeddings``' reply).

``base64``: each vector's float32 values, little-endian, base64-encoded; this is what the
``openai`` package asks for by default and decodes with ``numpy.frombuffer(..., dtype="float32")``.
``float``: a JSON array of the same float32 values.
"""

from __future__ import annotations

import base64
import struct
from typing import Any


def embedding_list(model: str, vectors: list[list[float]], encoding_format: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": encode_vector(vector, encoding_format)}
            for index, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def encode_vector(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector
