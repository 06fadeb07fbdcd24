"""What ``POST /v1/decisions`` answers (render/answers.py ``decision``; sference-sdk 0.3.2
``DecisionResponse``)."""

from __future__ import annotations

from typing import Any, Literal

from ..openapi import STRING, Wire, json_body, obj


class DecisionUsage(Wire):
    input_tokens: int
    output_tokens: int


class Decision(Wire):
    object: Literal["decision"]
    model: str
    answers: list[Any]  # one per question, in the question's type (docs/decisions.md)
    usage: DecisionUsage


# ``state``: the text (or JSON value) the questions are about; ``questions``: docs/decisions.md.
CREATE_BODY = json_body(obj(("model", "state", "questions"), model=STRING, state={}, questions={"type": "object"}))
