"""The decision engine on the real SmolLM2-135M model."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from sference_server.domain import decisions
from sference_server.domain.decisions import DecisionRequest, DecisionResult, normalise_decision_body
from sference_server.engines.base import ChatRequest, EngineError
from sference_server.engines.llamacpp.decisions import LlamaDecisionEngine
from sference_server.engines.llamacpp.model import LlamaModel
from sference_server.engines.llamacpp.native import llama as llama_cpp
from sference_server.engines.llamacpp.options import LlamaCppOptions
from sference_server.engines.llamacpp.scoring import Item, Scorer, prefix_free

pytestmark = pytest.mark.slow
T = TypeVar("T")

RECIPE = "Preheat the oven to 200C. Mix the flour, butter and sugar, then bake the dough for 20 minutes."
FOOTBALL = "The striker scored twice in the second half and the home team won the football match 2-0."
HAPPY = "I absolutely love this phone. The screen is gorgeous and the battery lasts for days. Best purchase ever!"
ANGRY = "This phone is terrible. The screen cracked on day one and the battery dies in an hour. Worst purchase ever."

COOKING = {"type": "noul", "instructions": "Is the text about cooking?"}
SENTIMENT = {
    "type": "choice",
    "instructions": "What is the sentiment of the text?",
    "criteria": {"positive": "", "negative": ""},
}
# Ten more, of every type, several with answers of more than one token.
OTHERS: dict[str, dict[str, Any]] = {
    "sentiment": SENTIMENT,
    "mood": {"type": "score", "instructions": "How happy is the writer?", "criteria": ["sad", "neutral", "happy"]},
    "stars": {"type": "score", "instructions": "How many stars would the writer give?", "criteria": list(range(12))},
    "topic": {
        "type": "choice",
        "criteria": {"technology": "devices, software", "food": "cooking, eating", "sport": "games, teams"},
    },
    "length": {"type": "choice", "instructions": "How long is it?", "criteria": {"short": "", "short and dense": ""}},
    "complaint": {"type": "noul", "instructions": "Is the writer complaining?", "criteria": {"true": "a complaint"}},
    "question": {"type": "noul", "instructions": "Does the text ask a question?", "criteria": None},
    "formality": {"type": "score", "criteria": [{"level": "casual"}, {"level": "formal"}]},
    "language": {"type": "choice", "instructions": "Which language?", "criteria": {"English": "", "German": ""}},
    "many": {"type": "choice", "criteria": {f"label {i}": f"description {i}" for i in range(30)}},
}


class Harness:
    def __init__(self, options: LlamaCppOptions) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = LlamaDecisionEngine("decisions", options, cache_dir=None, llama_log=False)
        self.run(self.engine.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def decide(self, state: Any, questions: dict[str, Any]) -> DecisionResult:
        body, errors = normalise_decision_body({"model": "decisions", "state": state, "questions": questions})
        assert body is not None, errors
        return self.run(self.engine.decide(DecisionRequest.from_body(body)))

    def loaded(self) -> tuple[LlamaModel, Scorer]:
        """The engine's model and scorer (made by its first request)."""
        if self.engine._scorer is None:
            self.decide("Hello.", {"q": COOKING})
        assert self.engine._model is not None and self.engine._scorer is not None
        return self.engine._model, self.engine._scorer

    def close(self) -> None:
        self.run(self.engine.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def engine() -> Iterator[Harness]:
    harness = Harness(LlamaCppOptions(slots=4, ctx_per_slot=512))
    yield harness
    harness.close()


def test_a_noul_question_tracks_the_state(engine: Harness) -> None:
    recipe = engine.decide(RECIPE, {"cooking": COOKING}).answers["cooking"]
    football = engine.decide(FOOTBALL, {"cooking": COOKING}).answers["cooking"]
    assert recipe["type"] == "noul"
    assert 0 < football["noul"] < recipe["noul"] < 1


def test_a_choice_question_ranks_its_labels(engine: Harness) -> None:
    happy = engine.decide(HAPPY, {"sentiment": SENTIMENT}).answers["sentiment"]
    angry = engine.decide(ANGRY, {"sentiment": SENTIMENT}).answers["sentiment"]
    assert happy["probabilities"]["positive"] > angry["probabilities"]["positive"]
    assert angry["choice"] == "negative" and angry["confidence"] == angry["probabilities"]["negative"]
    for answer in (happy, angry):
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)


def test_questions_asked_together_answer_as_when_asked_alone(engine: Harness) -> None:
    """Exactly: a question's computation does not depend on the others (scoring.py)."""
    questions = {"cooking": COOKING, **OTHERS}
    together = engine.decide(HAPPY, questions)
    assert list(together.answers) == list(questions)
    for answer in together.answers.values():
        if answer["type"] != "noul":
            assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert together.answers["stars"]["legend"]["11"] == 11
    for name, question in questions.items():
        assert engine.decide(HAPPY, {name: question}).answers[name] == together.answers[name], name


def test_the_prefix_is_decoded_once(engine: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real = llama_cpp.llama_decode

    def counting(ctx: Any, batch: Any) -> int:
        decoded.append(batch.n_tokens)
        return int(real(ctx, batch))

    monkeypatch.setattr(llama_cpp, "llama_decode", counting)
    questions = {"cooking": COOKING, "sentiment": SENTIMENT, "mood": OTHERS["mood"]}  # single-token codes
    result = engine.decide(RECIPE, questions)
    assert sum(decoded) == result.input_tokens


def test_usage_counts_the_shared_prefix_once(engine: Harness) -> None:
    questions = {"cooking": COOKING, "sentiment": SENTIMENT, "mood": OTHERS["mood"]}
    model, _ = engine.loaded()
    body, _ = normalise_decision_body({"model": "m", "state": RECIPE, "questions": questions})
    assert body is not None
    chat = model.render_chat(decisions.messages(RECIPE))
    prompts = [model.tokenize(chat + decisions.question_prompt(q)) for q in body["questions"].values()]
    shared = model.tokenize(chat)
    prefix = min(_common(shared, p) for p in prompts)
    assert prefix > 40  # the system prompt and the state

    result = engine.decide(RECIPE, questions)
    assert result.input_tokens == prefix + sum(len(p) - prefix for p in prompts)
    alone = engine.decide(RECIPE, {"cooking": COOKING})
    assert alone.input_tokens == len(prompts[0])


def test_a_state_longer_than_the_context_is_refused(engine: Harness) -> None:
    with pytest.raises(EngineError) as caught:
        engine.decide("word " * 600, {"cooking": COOKING})
    assert caught.value.code == "context_length_exceeded" and not caught.value.transient
    assert "'cooking'" in caught.value.message and "512 tokens per question" in caught.value.message


def test_chat_requests_are_refused(engine: Harness) -> None:
    request = ChatRequest.from_body({"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(EngineError) as caught:
        engine.run(engine.engine.generate(request))
    assert caught.value.code == "unsupported" and not caught.value.transient
    assert engine.engine.state() == "ready"


def test_branches_in_several_steps_score_like_one(engine: Harness) -> None:
    """One sequence for branches instead of three: more steps, the same results."""
    model, wide = engine.loaded()
    prefix = model.tokenize(model.render_chat(decisions.messages(HAPPY)))
    items = [
        Item(model.tokenize(f"Question {i}: is it long?\nAnswer:"), prefix_free([[i + 10], [i + 20, 7], [30]], 2))
        for i in range(6)
    ]
    expected = wide.score(prefix, items)
    narrow = Scorer(model, sequences=2, ctx_per_sequence=512, n_batch=16, threads=2)
    try:
        got = narrow.score(prefix, items)
    finally:
        narrow.close()
    for a, b in zip(got, expected, strict=True):
        assert a == b


def test_prefix_free_codes() -> None:
    assert prefix_free([[1], [2, 3]], 9) == [[1], [2, 3]]
    assert prefix_free([[1], [1, 3]], 9) == [[1, 9], [1, 3, 9]]
    assert Item([5], [[1, 9], [1, 3, 9], [2]]).branches == [[1, 3]]


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n
