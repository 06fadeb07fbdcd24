"""Decisions (``POST /v1/decisions``): questions about one ``state``, answered from a model's
next-token probabilities over each question's labels, never by sampling text.

Three kinds of question (docs/decisions.md):

- ``choice``: pick one of ``criteria`` (label -> description); the answer is the most likely
  label, its probability as ``confidence``, and every label's probability.
- ``score``: rate on the ordinal scale ``criteria`` (a list, index 0 lowest); the answer is the
  expected index ``sum(i * p_i)``, a ``confidence`` of ``1 - sd / ((n - 1) / 2)`` (1 when all the
  probability is on one value, 0 when it is split between the two ends), and each index's
  probability.
- ``noul``: a yes/no question; the answer is ``P(yes)``.

This module holds what does not need a model: validation (``normalise_decision_body``), the
prompt texts with each option's answer code, and the arithmetic from the codes' probabilities to
the answer objects. An engine renders ``messages(state)`` with its chat template, appends
``question_prompt(question)``, reads the probability of each of ``answer_codes(question)`` as
the continuation, and calls ``answer(question, probabilities)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .chat import FieldError

QUESTION_TYPES = ("choice", "score", "noul")
MAX_QUESTIONS = 64
MAX_NAME_CHARS = 64
MAX_CRITERIA = 256
MIN_SCORE_CRITERIA = 2
_FIELDS = frozenset({"model", "state", "questions", "images"})
_QUESTION_FIELDS = frozenset({"type", "instructions", "criteria"})


@dataclass(frozen=True)
class DecisionRequest:
    """A normalised decisions body, as the engine reads it: the state as text, and each question
    as ``{"type", "instructions" (text), "criteria"}`` (see ``normalise_decision_body``)."""

    state: str
    questions: dict[str, dict[str, Any]]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> DecisionRequest:
        return cls(state=body["state"], questions=body["questions"])


@dataclass(frozen=True)
class DecisionResult:
    answers: dict[str, dict[str, Any]]  # question name -> answer object, as the API returns it
    input_tokens: int


# -- validation --------------------------------------------------------------------------------


def normalise_decision_body(body: Any, *, context: str = "") -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Return ``(body, errors)``; ``body`` is ``None`` when there are errors, else
    ``{"model", "operation": "decisions", "state": <text>, "questions": {name: question}}``
    where each question is ``{"type", "instructions": <text>, "criteria": <as sent>}`` (a noul
    question's criteria: ``None`` or an object with ``true`` and/or ``false``).

    Every problem is reported, each under the path of its field (``questions.tone.criteria``)."""
    errors: list[FieldError] = []

    def err(field: str, message: str) -> None:
        errors.append(FieldError(f"{context}.{field}" if context and field else field or context, message))

    if not isinstance(body, dict):
        err("", f"the body must be a JSON object, got {_type_name(body)}")
        return None, errors

    for key in body:
        if key not in _FIELDS:
            err(str(key), f"unknown field; a decisions body has {', '.join(sorted(_FIELDS))}")

    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        err("model", "is required and must be a non-empty string")

    state: str | None = None
    if "state" not in body or body["state"] is None:
        err("state", "is required: the text (or JSON value) the questions are about")
    else:
        state = render_value(body["state"], indent=2)
        if not state.strip():
            err("state", "must not be empty")

    images = body.get("images")
    if images is not None and not isinstance(images, list):
        err("images", f"must be a list, got {_type_name(images)}")
    elif images:
        err("images", "images are not supported by this model (text only)")

    questions = _questions(body.get("questions"), "questions", err)

    if errors or state is None or questions is None:
        return None, errors
    return {"model": model, "operation": "decisions", "state": state, "questions": questions}, []


def _questions(value: Any, path: str, err: Any) -> dict[str, dict[str, Any]] | None:
    if value is None:
        err(path, "is required: an object of question name -> question")
        return None
    if not isinstance(value, dict):
        err(path, f"must be an object of question name -> question, got {_type_name(value)}")
        return None
    if not 1 <= len(value) <= MAX_QUESTIONS:
        err(path, f"must hold 1 to {MAX_QUESTIONS} questions, got {len(value)}")
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, question in value.items():
        where = f"{path}.{name}"
        if not name.strip():
            err(where, "a question's name must not be empty")
            continue
        if len(name) > MAX_NAME_CHARS:
            err(where, f"a question's name is at most {MAX_NAME_CHARS} characters, got {len(name)}")
            continue
        normalised = _question(question, where, err)
        if normalised is not None:
            out[name] = normalised
    return out if len(out) == len(value) else None


def _question(value: Any, path: str, err: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        err(path, f"must be an object with type, instructions and criteria, got {_type_name(value)}")
        return None
    ok = True
    for key in value:
        if key not in _QUESTION_FIELDS:
            err(f"{path}.{key}", f"unknown field; a question has {', '.join(sorted(_QUESTION_FIELDS))}")
            ok = False
    kind = value.get("type", "choice")
    if kind not in QUESTION_TYPES:
        err(f"{path}.type", f"must be one of {', '.join(QUESTION_TYPES)}; got {kind!r}")
        return None
    criteria = _criteria(kind, value.get("criteria"), f"{path}.criteria", err)
    if not ok or criteria is _INVALID:
        return None
    return {"type": kind, "instructions": render_value(value.get("instructions")), "criteria": criteria}


_INVALID: Any = object()


def _criteria(kind: str, value: Any, path: str, err: Any) -> Any:
    if kind == "choice":
        if not isinstance(value, dict):
            err(
                path, f"a choice question's criteria must be an object of label -> description, got {_type_name(value)}"
            )
            return _INVALID
        if not 1 <= len(value) <= MAX_CRITERIA:
            err(path, f"a choice question has 1 to {MAX_CRITERIA} labels, got {len(value)}")
            return _INVALID
        blank = [label for label in value if not label.strip()]
        if blank:
            err(path, "labels must be non-empty strings")
            return _INVALID
        return dict(value)
    if kind == "score":
        if not isinstance(value, list):
            err(
                path,
                "a score question's criteria must be a list of ordinal labels (index 0 lowest), "
                f"got {_type_name(value)}",
            )
            return _INVALID
        if not MIN_SCORE_CRITERIA <= len(value) <= MAX_CRITERIA:
            err(path, f"a score question has {MIN_SCORE_CRITERIA} to {MAX_CRITERIA} levels, got {len(value)}")
            return _INVALID
        return list(value)
    if value is None:  # noul
        return None
    if not isinstance(value, dict):
        err(
            path,
            f'a noul question\'s criteria must be null or an object with "true" and "false", got {_type_name(value)}',
        )
        return _INVALID
    unknown = [key for key in value if key not in ("true", "false")]
    if unknown:
        err(path, f'a noul question\'s criteria may only have the keys "true" and "false"; got {", ".join(unknown)}')
        return _INVALID
    return dict(value)


def render_value(value: Any, *, indent: int | None = None) -> str:
    """A JSON value as prompt text: a string as it is, ``null`` as nothing, anything else as JSON
    (compact, or indented by ``indent``), in the order it was sent."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    separators = (",", ": ") if indent else (", ", ": ")
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


# -- prompts -----------------------------------------------------------------------------------
#
# The chat is the same for every question up to the start of the assistant's turn: a system
# prompt, then the state as the user's message. Each question follows as the beginning of the
# assistant's answer (``question_prompt``), which ends with "Answer:"; the model's next tokens
# are read there. Answer codes are the labels themselves where they can be (measured on
# SmolLM2-135M: letter codes carried no signal, only the options' order; docs/decisions.md).

SYSTEM_PROMPT = (
    "You are a careful classifier. Read the text, then answer the question about it with one of the given answers."
)
ANSWER_LEAD = "Answer:"  # the last characters of every question prompt; the codes follow it
MAX_LEVEL_CODE_CHARS = 40  # a score level longer than this (or not one line) is answered by its index


def messages(state: str) -> list[dict[str, str]]:
    """The chat shared by every question about ``state`` (rendered with the generation prompt)."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": f"Text:\n{state}"}]


def answer_codes(question: dict[str, Any]) -> list[str]:
    """What the model writes after ``ANSWER_LEAD`` for each option, in the order of the criteria
    (a leading space included): a choice's labels; a score's levels, or their indices when a
    level is not a short distinct line of text (or a number); Yes then No for noul."""
    kind = question["type"]
    if kind == "noul":
        return [" Yes", " No"]
    if kind == "choice":
        return [f" {label.strip()}" for label in question["criteria"]]
    levels = _level_texts(question["criteria"])
    return [f" {level}" for level in levels] if levels else [f" {i}" for i in range(len(question["criteria"]))]


def question_prompt(question: dict[str, Any]) -> str:
    """The start of the assistant's turn for one question: the question, its options, how to
    answer, and ``ANSWER_LEAD``."""
    kind = question["type"]
    instructions = question["instructions"].strip()
    lines: list[str] = []
    if kind == "choice":
        lines.append(f"Question: {instructions or 'Which option describes the text best?'}")
        lines.append("Options:")
        for label, description in question["criteria"].items():
            lines.append(_option(label.strip(), render_value(description)))
        lines.append("Answer with one option.")
    elif kind == "score":
        lines.append(f"Question: {instructions or 'Where does the text stand on this scale?'}")
        levels = _level_texts(question["criteria"])
        if levels:
            lines.append("Scale, lowest first:")
            lines.extend(f"- {level}" for level in levels)
            lines.append("Answer with one level of the scale.")
        else:
            last = len(question["criteria"]) - 1
            lines.append(f"Scale, from 0 (lowest) to {last} (highest):")
            lines.extend(f"{i}: {render_value(level)}" for i, level in enumerate(question["criteria"]))
            lines.append(f"Answer with one number from 0 to {last}.")
    else:
        lines.append(f"Question: {instructions or 'Is this true of the text?'}")
        criteria = question["criteria"] or {}
        for code, key in (("Yes", "true"), ("No", "false")):
            meaning = render_value(criteria.get(key)).strip()
            if meaning:
                lines.append(f"{code} means: {meaning}")
        lines.append("Answer Yes or No.")
    lines.append(ANSWER_LEAD)
    return "\n".join(lines)


def _level_texts(levels: list[Any]) -> list[str] | None:
    """The score levels as answer texts, if each is a string or number that renders to a
    distinct, non-empty, short line."""
    if not all(isinstance(level, str | int | float) and not isinstance(level, bool) for level in levels):
        return None
    texts = [render_value(level).strip() for level in levels]
    usable = all(text and "\n" not in text and len(text) <= MAX_LEVEL_CODE_CHARS for text in texts)
    return texts if usable and len(set(texts)) == len(texts) else None


def _option(label: str, description: str) -> str:
    description = description.strip()
    return f"- {label}: {description}" if description else f"- {label}"


# -- answers -----------------------------------------------------------------------------------


def answer(question: dict[str, Any], probabilities: Sequence[float]) -> dict[str, Any]:
    """The answer object of ``question`` from the probability of each of its answer codes (in the
    order of ``answer_codes``; they are normalised here, so they need only be proportional)."""
    p = _normalised(probabilities)
    kind = question["type"]
    if kind == "choice":
        return choice_answer(list(question["criteria"]), p)
    if kind == "score":
        return score_answer(list(question["criteria"]), p)
    return {"type": "noul", "noul": p[0]}


def choice_answer(labels: list[str], p: list[float]) -> dict[str, Any]:
    """The most likely label (the first of equals), with its probability as the confidence."""
    best = max(range(len(p)), key=lambda i: p[i])
    return {
        "type": "choice",
        "choice": labels[best],
        "confidence": p[best],
        "probabilities": dict(zip(labels, p, strict=True)),
    }


def score_answer(levels: list[Any], p: list[float]) -> dict[str, Any]:
    """The expected index, and ``1 - sd / ((n - 1) / 2)`` as the confidence: the standard
    deviation of the index over the largest it can be on this scale (half the mass at each end)."""
    score = sum(i * pi for i, pi in enumerate(p))
    spread = math.sqrt(sum(pi * (i - score) ** 2 for i, pi in enumerate(p)))
    confidence = min(1.0, max(0.0, 1.0 - spread / ((len(p) - 1) / 2)))
    return {
        "type": "score",
        "score": score,
        "confidence": confidence,
        "legend": {str(i): level for i, level in enumerate(levels)},
        "probabilities": {str(i): pi for i, pi in enumerate(p)},
    }


def _normalised(probabilities: Sequence[float]) -> list[float]:
    total = math.fsum(probabilities)
    if not total > 0 or not math.isfinite(total):
        raise ValueError(f"probabilities must have a positive finite sum, got {list(probabilities)}")
    return [float(p) / total for p in probabilities]
