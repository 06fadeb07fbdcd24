from __future__ import annotations

from typing import Any

from sference_server.domain.chat import Limits
from sference_server.domain.embeddings import normalise_embedding_body
from sference_server.engines.base import EmbeddingRequest

LIMITS = Limits(max_tokens=0, context_tokens=256, dimensions=384)


def normalise(body: Any, **kwargs: Any) -> dict[str, Any]:
    out, errors = normalise_embedding_body(body, limits=LIMITS, **kwargs)
    assert errors == [], errors
    assert out is not None
    return out


def problems(body: Any, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("limits", LIMITS)
    out, errors = normalise_embedding_body(body, **kwargs)
    assert out is None
    return {e.field: e.message for e in errors}


def test_a_string_input_becomes_a_list_with_the_defaults() -> None:
    assert normalise({"model": "m", "input": "hello"}) == {
        "model": "m",
        "operation": "embeddings",
        "input": ["hello"],
        "encoding_format": "float",
    }


def test_every_field() -> None:
    body = {"model": "m", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 64, "user": "u-1"}
    assert normalise(body) == {
        "model": "m",
        "operation": "embeddings",
        "input": ["a", "b"],
        "encoding_format": "base64",
        "dimensions": 64,
    }
    assert normalise({"model": "m", "input": "x", "encoding_format": None, "dimensions": None}) == normalise(
        {"model": "m", "input": "x"}
    )


def test_the_engine_request_of_a_normalised_body() -> None:
    request = EmbeddingRequest.from_body(normalise({"model": "m", "input": ["a", "b"], "dimensions": 8}))
    assert request.inputs == ["a", "b"] and request.dimensions == 8
    assert EmbeddingRequest.from_body(normalise({"model": "m", "input": "a"})).dimensions is None


def test_every_problem_is_named_by_its_path() -> None:
    found = problems(
        {"model": "", "input": ["ok", "", 3.5], "encoding_format": "hex", "dimensions": 0, "extra": 1, "n": 2},
        context="body",
    )
    assert found == {
        "body.model": "is required and must be a non-empty string",
        "body.input[1]": "must not be an empty string",
        "body.input[2]": "must be a string, got a number",
        "body.encoding_format": "must be one of float, base64; got 'hex'",
        "body.dimensions": "must be a positive integer; got 0",
        "body.extra": "is not a field of an embeddings request (model, input, encoding_format, dimensions, user)",
        "body.n": "is not a field of an embeddings request (model, input, encoding_format, dimensions, user)",
    }


def test_inputs() -> None:
    assert problems({"model": "m"}) == {"input": "is required: a string or a list of strings"}
    assert problems({"model": "m", "input": ""}) == {"input": "must not be an empty string"}
    assert problems({"model": "m", "input": []}) == {"input": "must not be an empty list"}
    assert problems({"model": "m", "input": {"text": "a"}}) == {
        "input": "must be a string or a list of strings, got an object"
    }
    assert problems({"model": "m", "input": ["a"] * 3}, max_inputs=2) == {
        "input": "at most 2 inputs per request; got 3"
    }
    assert len(normalise({"model": "m", "input": ["a"] * 2048})["input"]) == 2048
    assert "input" in problems({"model": "m", "input": ["a"] * 2049})


def test_token_arrays_are_refused() -> None:
    refused = {"input": "token arrays are not supported; send text"}
    assert problems({"model": "m", "input": [101, 2023, 102]}) == refused
    assert problems({"model": "m", "input": [[101, 2023], [101]]}) == refused


def test_dimensions_within_the_model() -> None:
    assert normalise({"model": "m", "input": "a", "dimensions": 384})["dimensions"] == 384
    assert problems({"model": "m", "input": "a", "dimensions": 385}) == {
        "dimensions": "this model's vectors have 384 dimensions; ask for at most 384"
    }
    assert problems({"model": "m", "input": "a", "dimensions": True}) == {
        "dimensions": "must be a positive integer; got True"
    }
    # A model that is not served has no limits yet: the model's own problem is reported elsewhere.
    out, errors = normalise_embedding_body({"model": "m", "input": "a", "dimensions": 4096}, limits=Limits(0))
    assert errors == [] and out is not None and out["dimensions"] == 4096


def test_a_body_that_is_not_an_object() -> None:
    assert problems(["x"], context="line 3") == {"line 3": "the body must be a JSON object, got an array"}
