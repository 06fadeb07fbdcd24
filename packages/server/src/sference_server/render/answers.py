"""A finished item's answer in the shape of the endpoint that asks for its kind of work: a chat
completion, an embeddings list, or a decision. Results rows, completion events and OpenAI batch
output lines embed it."""

from __future__ import annotations

import json
from typing import Any

from ..domain.outcome import ChatOutput, DecisionOutput, EmbeddingOutput
from .embeddings import embedding_list
from .openai_chat import Answered, chat_completion


def answer(item: Answered) -> dict[str, Any]:
    """``item``: an ``Item``, or a results line's ``ResultRow`` (whose ``body`` is there for
    embeddings)."""
    output = item.output
    if isinstance(output, EmbeddingOutput):
        body = json.loads(item.body) if item.body else {}
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
