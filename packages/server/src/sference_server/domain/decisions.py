"""Decisions (``POST /v1/decisions``): questions about one ``state``, answered from a model's
next-token probabilities over each question's labels, never by sampling text.

(Skeleton: the validation, prompts and answer arithmetic are being written.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .chat import FieldError


@dataclass(frozen=True)
class DecisionRequest:
    """A normalised decisions body, as the engine reads it."""

    state: str
    questions: dict[str, dict[str, Any]]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> DecisionRequest:
        return cls(state=body["state"], questions=body["questions"])


@dataclass(frozen=True)
class DecisionResult:
    answers: dict[str, dict[str, Any]]  # question name -> answer object, as the API returns it
    input_tokens: int


def normalise_decision_body(body: Any, *, context: str = "") -> tuple[dict[str, Any] | None, list[FieldError]]:
    raise NotImplementedError
