from __future__ import annotations

import math
from typing import Any

import pytest

from sference_server.domain.decisions import (
    ANSWER_LEAD,
    DecisionRequest,
    answer,
    answer_codes,
    messages,
    normalise_decision_body,
    question_prompt,
)

SENTIMENT = {
    "type": "choice",
    "instructions": "What is the sentiment?",
    "criteria": {"positive": "the writer likes it", "negative": "the writer dislikes it"},
}


def body(**questions: Any) -> dict[str, Any]:
    return {"model": "m", "state": "I love it.", "questions": questions or {"sentiment": SENTIMENT}}


def normalise(value: Any) -> dict[str, Any]:
    out, errors = normalise_decision_body(value)
    assert errors == [], errors
    assert out is not None
    return out


def problems(value: Any, *, context: str = "") -> dict[str, str]:
    out, errors = normalise_decision_body(value, context=context)
    assert out is None
    return {e.field: e.message for e in errors}


def test_a_body_of_each_type_normalises() -> None:
    out = normalise(
        body(
            sentiment=SENTIMENT,
            stars={"type": "score", "criteria": ["bad", "fine", "great"]},
            cooking={"type": "noul", "instructions": {"topic": "cooking"}, "criteria": {"true": "about food"}},
            plain={"type": "noul", "criteria": None},
        )
    )
    assert out == {
        "model": "m",
        "operation": "decisions",
        "state": "I love it.",
        "questions": {
            "sentiment": SENTIMENT,
            "stars": {"type": "score", "instructions": "", "criteria": ["bad", "fine", "great"]},
            "cooking": {"type": "noul", "instructions": '{"topic": "cooking"}', "criteria": {"true": "about food"}},
            "plain": {"type": "noul", "instructions": "", "criteria": None},
        },
    }
    request = DecisionRequest.from_body(out)
    assert request.state == "I love it." and list(request.questions) == ["sentiment", "stars", "cooking", "plain"]


def test_a_json_state_is_rendered_as_indented_json_and_type_defaults_to_choice() -> None:
    out = normalise(
        {"model": "m", "state": {"title": "Soup", "steps": [1, 2]}, "questions": {"q": {"criteria": {"a": ""}}}}
    )
    assert out["state"] == '{\n  "title": "Soup",\n  "steps": [\n    1,\n    2\n  ]\n}'
    assert out["questions"]["q"]["type"] == "choice"


def test_images_are_refused_but_an_empty_list_is_fine() -> None:
    assert problems({**body(), "images": ["data:image/png;base64,AAAA"]}) == {
        "images": "images are not supported by this model (text only)"
    }
    assert normalise({**body(), "images": []})["questions"]


@pytest.mark.parametrize(
    ("question", "field", "fragment"),
    [
        ({"type": "vote", "criteria": {}}, "questions.tone.type", "one of choice, score, noul"),
        ({"type": "choice", "criteria": ["a", "b"]}, "questions.tone.criteria", "object of label -> description"),
        ({"type": "choice", "criteria": {}}, "questions.tone.criteria", "1 to 256 labels, got 0"),
        ({"type": "choice", "criteria": {" ": "x"}}, "questions.tone.criteria", "non-empty strings"),
        ({"type": "score", "criteria": {"a": 1}}, "questions.tone.criteria", "list of ordinal labels"),
        ({"type": "score", "criteria": ["only"]}, "questions.tone.criteria", "2 to 256 levels, got 1"),
        ({"type": "score", "criteria": list(range(257))}, "questions.tone.criteria", "2 to 256 levels, got 257"),
        ({"type": "noul", "criteria": ["yes"]}, "questions.tone.criteria", 'null or an object with "true"'),
        ({"type": "noul", "criteria": {"maybe": "x"}}, "questions.tone.criteria", "only have the keys"),
        ({"type": "noul", "weight": 2}, "questions.tone.weight", "unknown field"),
        ("positive or negative?", "questions.tone", "must be an object"),
    ],
)
def test_question_errors_name_the_question(question: Any, field: str, fragment: str) -> None:
    found = problems(body(tone=question))
    assert field in found, found
    assert fragment in found[field]


def test_every_problem_is_reported_with_its_path_under_the_context() -> None:
    found = problems(
        {
            "model": "",
            "state": None,
            "questions": {"a": {"type": "score", "criteria": []}, "b": {"type": "noul", "criteria": 3}},
            "temperature": 0,
        },
        context="body",
    )
    assert set(found) == {
        "body.model",
        "body.state",
        "body.questions.a.criteria",
        "body.questions.b.criteria",
        "body.temperature",
    }


@pytest.mark.parametrize(
    ("questions", "fragment"),
    [
        (None, "is required"),
        ([SENTIMENT], "must be an object of question name -> question, got a list"),
        ({}, "1 to 64 questions, got 0"),
        ({f"q{i}": SENTIMENT for i in range(65)}, "1 to 64 questions, got 65"),
    ],
)
def test_the_questions_object(questions: Any, fragment: str) -> None:
    assert fragment in problems({"model": "m", "state": "s", "questions": questions})["questions"]


def test_question_names() -> None:
    long = "n" * 65
    found = problems(body(**{long: SENTIMENT, "": SENTIMENT}))
    assert "at most 64 characters" in found[f"questions.{long}"]
    assert "must not be empty" in found["questions."]


def test_the_state_must_not_be_empty_and_the_body_must_be_an_object() -> None:
    assert problems({**body(), "state": "  "}) == {"state": "must not be empty"}
    assert problems([1]) == {"": "the body must be a JSON object, got a list"}


def test_prompts_share_everything_up_to_the_question() -> None:
    shared = messages("A recipe.")
    assert shared[-1] == {"role": "user", "content": "Text:\nA recipe."}
    prompt = question_prompt(normalise(body())["questions"]["sentiment"])
    assert prompt.startswith("Question: What is the sentiment?\nOptions:\n- positive: the writer likes it\n")
    assert prompt.endswith(f"\n{ANSWER_LEAD}")


def test_answer_codes() -> None:
    assert answer_codes(SENTIMENT) == [" positive", " negative"]
    assert answer_codes({"type": "noul", "criteria": None}) == [" Yes", " No"]
    assert answer_codes({"type": "score", "criteria": ["low", "high"]}) == [" low", " high"]
    # Levels that cannot serve as answers (repeated, long, not text) are answered by their index.
    for levels in (["same", "same"], ["x" * 41, "y"], [{"stars": 1}, {"stars": 2, "note": "a\nb"}]):
        question = {"type": "score", "instructions": "", "criteria": levels}
        assert answer_codes(question) == [" 0", " 1"]
        assert "Answer with one number from 0 to 1." in question_prompt(question)


def test_choice_answer_is_the_most_likely_label() -> None:
    got = answer(SENTIMENT, [1.0, 3.0])  # proportional: normalised here
    assert got == {
        "type": "choice",
        "choice": "negative",
        "confidence": 0.75,
        "probabilities": {"positive": 0.25, "negative": 0.75},
    }


def test_score_answer_is_the_expected_index_and_its_confidence_the_spread() -> None:
    question = {"type": "score", "criteria": ["bad", {"label": "ok"}, "good"]}
    got = answer(question, [0.0, 0.0, 1.0])
    assert got["score"] == 2.0 and got["confidence"] == 1.0
    assert got["legend"] == {"0": "bad", "1": {"label": "ok"}, "2": "good"}
    assert got["probabilities"] == {"0": 0.0, "1": 0.0, "2": 1.0}
    split = answer(question, [0.5, 0.0, 0.5])  # the widest spread a 3-level scale allows
    assert split["score"] == 1.0 and split["confidence"] == pytest.approx(0.0)
    middle = answer(question, [0.25, 0.5, 0.25])
    assert middle["score"] == 1.0 and middle["confidence"] == pytest.approx(1 - math.sqrt(0.5))


def test_noul_answer_is_the_probability_of_yes() -> None:
    assert answer({"type": "noul", "criteria": None}, [0.2, 0.6]) == {"type": "noul", "noul": 0.25}


def test_probabilities_must_have_a_positive_sum() -> None:
    with pytest.raises(ValueError, match="positive finite sum"):
        answer(SENTIMENT, [0.0, 0.0])
