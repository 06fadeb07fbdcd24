"""Embeddings bodies (``POST /v1/embeddings``, OpenAI's shape): validate one and normalise it.

The normalised body is what the store keeps and the engine reads::

    {"model": m, "operation": "embeddings", "input": [text, ...],
     "encoding_format": "float" | "base64", "dimensions": n}   # dimensions only when asked

``input`` is always a list of non-empty strings. Token-id arrays, which OpenAI also accepts, are
refused: a model here has its own tokenizer, and ids of another one would embed as nonsense.
``user`` is accepted and dropped. Like chat validation, it returns every problem it finds, each
with the path of its field.
"""

from __future__ import annotations

from typing import Any

from .chat import FieldError, Limits, take_model

OPERATION = "embeddings"
ENCODING_FORMATS = ("float", "base64")
MAX_INPUTS = 2048  # OpenAI's limit on inputs per request

_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def normalise_embedding_body(
    body: Any, *, context: str = "", limits: Limits, max_inputs: int = MAX_INPUTS
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Return ``(embeddings_body, errors)``; ``embeddings_body`` is ``None`` when there are errors.
    ``limits.dimensions``: the model's vector size, the most ``dimensions`` may ask for."""
    if not isinstance(body, dict):
        return None, [FieldError("", f"the body must be a JSON object, got {_type_name(body)}").at(context)]
    errors: list[FieldError] = []

    def err(field: str, message: str) -> None:
        errors.append(FieldError(field, message).at(context))

    out: dict[str, Any] = {}
    take_model(body, out, err)
    out["operation"] = OPERATION

    inputs = _inputs(body, err, max_inputs)
    if inputs is not None:
        out["input"] = inputs

    encoding = body.get("encoding_format")
    if encoding is None:
        out["encoding_format"] = "float"
    elif encoding not in ENCODING_FORMATS:
        err("encoding_format", f"must be one of {', '.join(ENCODING_FORMATS)}; got {encoding!r}")
    else:
        out["encoding_format"] = encoding

    dimensions = body.get("dimensions")
    if dimensions is not None:
        most = limits.dimensions
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            err("dimensions", f"must be a positive integer; got {dimensions!r}")
        elif most is not None and dimensions > most:
            err("dimensions", f"this model's vectors have {most} dimensions; ask for at most {most}")
        else:
            out["dimensions"] = dimensions

    for key in sorted(set(body) - _FIELDS):
        err(key, "is not a field of an embeddings request (model, input, encoding_format, dimensions, user)")
    return (None, errors) if errors else (out, [])


def _inputs(body: dict[str, Any], err: Any, max_inputs: int) -> list[str] | None:
    if "input" not in body or body["input"] is None:
        err("input", "is required: a string or a list of strings")
        return None
    value = body["input"]
    if isinstance(value, str):
        if not value:
            err("input", "must not be an empty string")
            return None
        return [value]
    if not isinstance(value, list):
        err("input", f"must be a string or a list of strings, got {_type_name(value)}")
        return None
    if not value:
        err("input", "must not be an empty list")
        return None
    if any(isinstance(v, int) and not isinstance(v, bool) for v in value) or any(isinstance(v, list) for v in value):
        err("input", "token arrays are not supported; send text")
        return None
    if len(value) > max_inputs:
        err("input", f"at most {max_inputs} inputs per request; got {len(value)}")
        return None
    ok = True
    for index, text in enumerate(value):
        if not isinstance(text, str):
            err(f"input[{index}]", f"must be a string, got {_type_name(text)}")
            ok = False
        elif not text:
            err(f"input[{index}]", "must not be an empty string")
            ok = False
    return list(value) if ok else None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(value), "an object"
    )
