"""Decisions (``POST /v1/decisions``) on the embedded model: 64 questions about one ~500-token
state, with the state's tokens computed once and shared by every question, against computing the
whole prompt again for each question (what asking them one by one would cost).

Both run the same scoring code (engines/llamacpp/scoring.py) on the same context; the shared run
also goes through the engine (prompts and tokenizing included). The answers of the two agree to
the last bit: a question's computation does not depend on how the prefix was reached.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from sference_server.domain.decisions import DecisionRequest, normalise_decision_body
from sference_server.engines.llamacpp.decisions import LlamaDecisionEngine
from sference_server.engines.llamacpp.options import LlamaCppOptions
from sference_server.engines.llamacpp.scoring import Item

PARAGRAPHS = [
    "The support ticket was opened on Monday by a customer whose order had not arrived.",
    "She wrote that the parcel was marked as delivered, but nobody in the building had seen it.",
    "The agent apologised, checked the carrier's records and found a photo of the wrong door.",
    "A replacement was sent the same day, with a discount code for the next purchase.",
    "On Wednesday the customer replied that the new parcel had arrived and the shoes fit well.",
    "She added that the first box had turned up at a neighbour's flat, and offered to return it.",
    "The agent thanked her, arranged a free pickup and closed the ticket as resolved.",
]
KINDS = ("noul", "choice", "score")


def state_text(tokens: int, tokenize: Callable[[str], list[int]]) -> str:
    """The paragraphs over and over, up to ``tokens`` tokens."""
    words: list[str] = []
    i = 0
    while True:
        words.extend(PARAGRAPHS[i % len(PARAGRAPHS)].split())
        i += 1
        text = " ".join(words)
        if len(tokenize(text)) >= tokens:
            return text


def questions(n: int) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "noul":
            out[f"q{i}"] = {"type": "noul", "instructions": f"Is topic number {i} (a delivery problem) discussed?"}
        elif kind == "choice":
            out[f"q{i}"] = {
                "type": "choice",
                "instructions": f"Check {i}: how did the ticket end?",
                "criteria": {"resolved": "the problem was fixed", "open": "still waiting", "escalated": ""},
            }
        else:
            out[f"q{i}"] = {
                "type": "score",
                "instructions": f"Check {i}: how satisfied is the customer at the end?",
                "criteria": ["angry", "unhappy", "neutral", "satisfied", "delighted"],
            }
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--state-tokens", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant; the median is shown")
    parser.add_argument("--weights", default="original", help="original, q8_0 or f16 (see LlamaCppOptions)")
    args = parser.parse_args()

    engine = LlamaDecisionEngine("bench", LlamaCppOptions(ctx_per_slot=2048, weights=args.weights))
    await engine.start()
    await engine.decide(DecisionRequest("Hello.", {"q": {"type": "noul", "instructions": "", "criteria": None}}))
    model, scorer = engine._model, engine._scorer  # made by the first request
    assert model is not None and scorer is not None
    state = state_text(args.state_tokens, model.tokenize)
    body, errors = normalise_decision_body({"model": "bench", "state": state, "questions": questions(args.questions)})
    assert body is not None, errors
    request = DecisionRequest.from_body(body)
    names = list(request.questions)
    prefix, items = engine._prompts(model, request.state, names, list(request.questions.values()))
    alone = [Item(prefix + item.suffix, item.codes) for item in items]
    suffixes = sum(len(item.suffix) for item in items)

    def shared() -> list[list[float]]:
        return scorer.score(prefix, items)

    def recomputed() -> list[list[float]]:
        return [scorer.score([], [item])[0] for item in alone]

    shared()  # warm up
    timings: dict[str, list[float]] = {"shared": [], "recomputed": [], "engine": []}
    results: dict[str, list[list[float]]] = {}
    for _ in range(args.repeat):
        for name, run in (("shared", shared), ("recomputed", recomputed)):
            started = time.perf_counter()
            results[name] = run()
            timings[name].append(time.perf_counter() - started)
        started = time.perf_counter()
        await engine.decide(request)
        timings["engine"].append(time.perf_counter() - started)
    await engine.stop()

    same = results["shared"] == results["recomputed"]
    median = {name: statistics.median(values) for name, values in timings.items()}
    print(
        f"{args.questions} questions on a {len(prefix)}-token prefix (system prompt and state), "
        f"{suffixes} question tokens in all, weights {args.weights}, median of {args.repeat}"
    )
    print(f"{'variant':<44}{'tokens decoded':>16}{'seconds':>10}{'ms/question':>13}")
    rows = [
        ("prefix once, shared (scoring.py)", len(prefix) + suffixes, median["shared"]),
        ("prefix once, through LlamaDecisionEngine", len(prefix) + suffixes, median["engine"]),
        ("prefix again for every question", len(prefix) * len(items) + suffixes, median["recomputed"]),
    ]
    for label, tokens, seconds in rows:
        print(f"{label:<44}{tokens:>16}{seconds:>10.2f}{1000 * seconds / len(items):>13.1f}")
    print(f"speed-up of sharing: {median['recomputed'] / median['shared']:.1f}x; identical answers: {same}")


if __name__ == "__main__":
    asyncio.run(main())
