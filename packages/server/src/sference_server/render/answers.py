"""A finished item's answer in the shape of the endpoint that asks for its kind of work: a chat
completion, an embeddings list, or a decision. Results rows, completion events and OpenAI batch
output lines embed it."""

from __future__ import annotations

from typing import Any

from ..domain.outcome import ChatOutput, DecisionOutput, EmbeddingOutput
from ..store.records import Item
from .embeddings import embedding_list
from .openai_chat import chat_completion


def answer(item: Item) -> dict[str, Any]:
    output = item.output
    if isinstance(output, EmbeddingOutput):
        body = item.chat_body()
        return embedding_list(
            item.model, output.vectors, body.get("encoding_format", "float"), output.usage.prompt_tokens
        )
    if isinstance(output, DecisionOutput):
        return decision(item.model, output)
    assert isinstance(output, ChatOutput), "only a completed item has an answer"
    return chat_completion(item)


def decision(model: str, output: DecisionOutput) -> dict[str, Any]:
    """``POST /v1/decisions``' reply (sference-sdk 0.3.2 ``DecisionResponse``)."""
    return {
        "object": "decision",
        "model": model,
        "answers": output.answers,
        "usage": {"input_tokens": output.usage.prompt_tokens, "output_tokens": 0},
    }
