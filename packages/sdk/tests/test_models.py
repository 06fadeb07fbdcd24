"""The wire models read what both API versions send."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest
from pydantic import ValidationError

from sference_sdk import (
    ChoiceAnswer,
    DecisionResponse,
    EmbeddingResponse,
    ModelList,
    NoulAnswer,
    Response,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputOther,
    ResponseOutputReasoning,
    ResponseOutputText,
    ScoreAnswer,
    decode_embedding,
)
from sference_sdk.models import reasoning_summary_plaintext


def response(status: str = "completed", output: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "object": "response",
        "created_at": 1_790_000_000,
        "completed_at": 1_790_000_001,
        "model": "m",
        "status": status,
        "output": output,
        "error": None,
        "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        "metadata": {},
        **extra,
    }


def test_a_2025_10_01_response_with_flat_items() -> None:
    parsed = Response.model_validate(
        response(
            output=[
                {"type": "reasoning", "text": "thinking", "format": "think_tag"},
                {"type": "output_text", "text": "Hello"},
                {"type": "output_text", "text": " there"},
            ]
        )
    )
    reasoning, first, _ = parsed.output or []
    assert isinstance(reasoning, ResponseOutputReasoning) and reasoning.format == "think_tag"
    assert isinstance(first, ResponseOutputText)
    assert parsed.output_text == "Hello there"
    assert parsed.reasoning_text == "thinking"
    assert parsed.is_terminal and parsed.incomplete_details is None


def test_a_2026_11_01_response_with_openai_items() -> None:
    parsed = Response.model_validate(
        response(
            output=[
                {"type": "reasoning", "id": "rs_r1", "summary": [{"type": "summary_text", "text": "mull"}]},
                {
                    "type": "message",
                    "id": "msg_r1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": "lookup",
                    "arguments": '{"q": 1}',
                    "status": "completed",
                },
            ],
            usage={
                "input_tokens": 3,
                "output_tokens": 4,
                "total_tokens": 7,
                "input_tokens_details": {"cached_tokens": 2},
                "output_tokens_details": {"reasoning_tokens": 1},
            },
        )
    )
    reasoning, message, call = parsed.output or []
    assert isinstance(reasoning, ResponseOutputReasoning) and reasoning.id == "rs_r1"
    assert reasoning_summary_plaintext(reasoning) == "mull"
    assert isinstance(message, ResponseOutputMessage) and message.text == "Hi"
    assert isinstance(call, ResponseFunctionToolCall) and call.name == "lookup"
    assert parsed.output_text == "Hi"
    assert parsed.reasoning_text == "mull"
    assert parsed.usage is not None and parsed.usage.input_tokens_details is not None
    assert parsed.usage.input_tokens_details.cached_tokens == 2


def test_incomplete_is_terminal_and_says_why() -> None:
    message = {
        "type": "message",
        "id": "msg_r1",
        "role": "assistant",
        "status": "incomplete",
        "content": [{"type": "output_text", "text": "cut sho", "annotations": []}],
    }
    parsed = Response.model_validate(
        response("incomplete", [message], incomplete_details={"reason": "max_output_tokens"})
    )
    assert parsed.is_terminal
    assert parsed.incomplete_details is not None and parsed.incomplete_details.reason == "max_output_tokens"
    assert parsed.output_text == "cut sho"


@pytest.mark.parametrize("status", ["queued", "in_progress"])
def test_queued_and_in_progress_are_not_terminal(status: str) -> None:
    parsed = Response.model_validate(response(status, []))
    assert not parsed.is_terminal and parsed.output_text == ""


def test_an_unknown_item_type_is_kept_not_refused() -> None:
    parsed = Response.model_validate(
        response(
            output=[
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "output_text", "text": "x"},
            ]
        )
    )
    other = (parsed.output or [])[0]
    assert isinstance(other, ResponseOutputOther) and other.type == "web_search_call"
    assert other.model_dump()["id"] == "ws_1"
    assert parsed.output_text == "x"


def test_a_known_item_type_in_a_wrong_shape_is_still_an_error() -> None:
    with pytest.raises(ValidationError):
        Response.model_validate(response(output=[{"type": "message", "content": "not a list"}]))


def floats_as_base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def test_embeddings_in_both_encodings_give_the_same_floats() -> None:
    values = [0.5, -1.25, 3.0]
    as_floats = EmbeddingResponse.model_validate(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [1.0, 2.0, 4.0]},
                {"object": "embedding", "index": 0, "embedding": values},
            ],
            "model": "e",
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
        }
    )
    as_base64 = EmbeddingResponse.model_validate(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": floats_as_base64(values)}],
            "model": "e",
        }
    )
    assert as_floats.vectors() == [values, [1.0, 2.0, 4.0]]  # in input order
    assert as_base64.data[0].vector == values
    assert as_base64.vectors() == [values]


def test_decode_embedding_refuses_a_ragged_or_broken_payload() -> None:
    assert decode_embedding("") == []
    with pytest.raises(ValueError, match="whole float32"):
        decode_embedding(base64.b64encode(b"abc").decode())
    with pytest.raises(ValueError):
        decode_embedding("not base64!")


def test_decision_answers_of_each_kind() -> None:
    parsed = DecisionResponse.model_validate(
        {
            "model": "d",
            "answers": {
                "mood": {
                    "type": "choice",
                    "choice": "happy",
                    "confidence": 0.8,
                    "probabilities": {"happy": 0.8, "sad": 0.2},
                },
                "urgency": {
                    "type": "score",
                    "score": 1.4,
                    "confidence": 0.6,
                    "legend": {"0": "low", "1": "mid", "2": "high"},
                    "probabilities": {"0": 0.1, "1": 0.4, "2": 0.5},
                },
                "spam": {"type": "noul", "noul": 0.03},
            },
            "usage": {"input_tokens": 40, "output_tokens": 0},
        }
    )
    assert isinstance(parsed.answers["mood"], ChoiceAnswer) and parsed.answers["mood"].choice == "happy"
    assert isinstance(parsed.answers["urgency"], ScoreAnswer) and parsed.answers["urgency"].score == 1.4
    assert isinstance(parsed.answers["spam"], NoulAnswer) and parsed.answers["spam"].noul == 0.03
    assert parsed.usage is not None and parsed.usage.input_tokens == 40


def test_a_model_list() -> None:
    parsed = ModelList.model_validate(
        {
            "object": "list",
            "data": [
                {
                    "id": "sentence-transformers/all-MiniLM-L6-v2",
                    "object": "model",
                    "created": 1_790_000_000,
                    "owned_by": "sference",
                    "display_name": "all-MiniLM-L6-v2",
                    "modality": "text_embedding",
                    "context_tokens": 256,
                    "capabilities": {"dimensions": 384},
                    "max_model_len": 256,
                }
            ],
        }
    )
    (model,) = parsed.data
    assert model.modality == "text_embedding" and model.context_tokens == 256
    assert model.capabilities == {"dimensions": 384}
