"""The embedded engine on the real SmolLM2-135M model."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sference_server.engines.base import ChatRequest, ChatResult, EngineError
from sference_server.engines.llamacpp.engine import LlamaCppEngine
from sference_server.engines.llamacpp.options import LlamaCppOptions

pytestmark = pytest.mark.slow
T = TypeVar("T")


class Harness:
    """One engine on its own event loop thread, callable from sync tests."""

    def __init__(self, options: LlamaCppOptions, cache_dir: Path | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = LlamaCppEngine("smollm2", options, cache_dir=cache_dir)
        self.run(self.engine.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def generate(self, content: str, **params: Any) -> ChatResult:
        return self.run(self.engine.generate(ask(content, **params)))

    def close(self) -> None:
        self.run(self.engine.stop())
        self.loop.close()


def ask(content: str, **params: Any) -> ChatRequest:
    return ChatRequest.from_body({"messages": [{"role": "user", "content": content}], **params})


@pytest.fixture(scope="module")
def engine() -> Iterator[Harness]:
    harness = Harness(LlamaCppOptions(slots=4, ctx_per_slot=512))
    yield harness
    harness.close()


def test_greedy_output_is_deterministic_and_batching_does_not_change_it(engine: Harness) -> None:
    single = engine.generate("Name three colors.", temperature=0, max_tokens=24)
    assert single.text.strip()
    assert single.completion_tokens <= 24 and single.prompt_tokens > 10

    async def together() -> list[ChatResult]:
        requests = [ask("Name three colors.", temperature=0, max_tokens=24) for _ in range(6)]
        requests += [ask(f"Tell me about the number {i}.", temperature=0, max_tokens=24) for i in range(6)]
        return list(await asyncio.gather(*(engine.engine.generate(r) for r in requests)))

    results = engine.run(together())
    assert [r.text for r in results[:6]] == [single.text] * 6


def test_a_shared_prompt_prefix_is_reused_without_changing_the_answer(engine: Harness) -> None:
    cold = Harness(LlamaCppOptions(slots=1, ctx_per_slot=512))
    try:
        expected = cold.generate("What is the capital of Italy?", temperature=0, max_tokens=16)
    finally:
        cold.close()
    engine.generate("Write one word.", temperature=0, max_tokens=4)  # puts the system prompt in a slot
    warm = engine.generate("What is the capital of Italy?", temperature=0, max_tokens=16)
    assert warm.cached_tokens > 10  # the chat template's system prompt, at least
    assert warm.text == expected.text
    assert warm.prompt_tokens == expected.prompt_tokens


def test_max_tokens_and_finish_reasons(engine: Harness) -> None:
    short = engine.generate("Write a long story about a dragon.", temperature=0, max_tokens=5)
    assert short.completion_tokens == 5 and short.finish_reason == "length"
    natural = engine.generate("Say just the word yes.", temperature=0, max_tokens=200)
    assert natural.finish_reason == "stop" and natural.completion_tokens < 200


def test_stop_sequences_cut_the_text(engine: Harness) -> None:
    free = engine.generate("Count from one to twenty in words, comma separated.", temperature=0, max_tokens=60)
    words = free.text.split()
    assert len(words) > 6, free.text
    marker = words[4]
    stopped = engine.generate(
        "Count from one to twenty in words, comma separated.", temperature=0, max_tokens=60, stop=[marker]
    )
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index(marker)]


def test_seeded_sampling_repeats_and_other_seeds_differ(engine: Harness) -> None:
    params: dict[str, Any] = {"temperature": 1.0, "top_p": 0.95, "max_tokens": 30}
    a = engine.generate("Invent a name for a cat.", seed=7, **params)
    b = engine.generate("Invent a name for a cat.", seed=7, **params)
    others = {engine.generate("Invent a name for a cat.", seed=s, **params).text for s in range(8, 12)}
    assert a.text == b.text
    assert others - {a.text}


def test_penalties_and_top_k_run(engine: Harness) -> None:
    result = engine.generate(
        "List animals.", temperature=0, max_tokens=20, presence_penalty=1.0, frequency_penalty=0.5, top_k=20
    )
    assert result.completion_tokens > 0


def test_a_prompt_longer_than_the_context_fails_only_that_request(engine: Harness) -> None:
    with pytest.raises(EngineError) as caught:
        engine.generate("word " * 600, max_tokens=10)
    assert caught.value.code == "context_length_exceeded" and not caught.value.transient
    assert "512" in caught.value.message
    with pytest.raises(EngineError):
        engine.generate("hi", max_tokens=600)
    assert engine.generate("Say hi.", temperature=0, max_tokens=3).completion_tokens == 3


def test_cancelling_a_request_frees_its_slot() -> None:
    harness = Harness(LlamaCppOptions(slots=1, ctx_per_slot=1024))
    try:

        async def scenario() -> ChatResult:
            # Cancelled once its first text arrives: it is running then, and far from its end (a
            # fixed wait let the fast kernels finish a short "essay" before the cancel).
            loop, writing = asyncio.get_running_loop(), asyncio.Event()
            request = ask("Write a very long essay.", max_tokens=900)
            long = asyncio.create_task(
                harness.engine.generate(request, on_text=lambda _text: loop.call_soon_threadsafe(writing.set))
            )
            await asyncio.wait_for(writing.wait(), timeout=30)
            long.cancel()
            with pytest.raises(asyncio.CancelledError):
                await long
            return await asyncio.wait_for(
                harness.engine.generate(ask("Say hi.", temperature=0, max_tokens=3)), timeout=10
            )

        assert harness.run(scenario()).completion_tokens == 3
    finally:
        harness.close()


def test_the_default_length_cap_applies_and_yields_to_a_long_prompt() -> None:
    harness = Harness(LlamaCppOptions(slots=1, ctx_per_slot=256, max_tokens=60))
    try:
        capped = harness.generate("Write a long story about a dragon.", temperature=0)
        assert capped.completion_tokens == 60 and capped.finish_reason == "length"
        squeezed = harness.generate("word " * 200, temperature=0)  # leaves fewer than 60 tokens of room
        assert 0 < squeezed.completion_tokens < 60
        assert squeezed.prompt_tokens + squeezed.completion_tokens <= 256
        with pytest.raises(EngineError):  # an explicit request beyond the room is still an error
            harness.generate("word " * 200, temperature=0, max_tokens=60)
    finally:
        harness.close()


@pytest.mark.parametrize("weights", ["f16", "bf16", "q8_0"])
def test_re_encoded_weights_are_made_once_and_answer_well(tmp_path: Path, weights: str) -> None:
    capital = [
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    fast = Harness(LlamaCppOptions(slots=2, ctx_per_slot=256, weights=weights), cache_dir=tmp_path)
    try:
        answer = fast.run(
            fast.engine.generate(ChatRequest.from_body({"messages": capital, "temperature": 0, "max_tokens": 16}))
        )
    finally:
        fast.close()
    assert "Paris" in answer.text
    (cached,) = tmp_path.glob(f"*.{weights}.gguf")
    made = cached.stat().st_mtime_ns
    again = Harness(LlamaCppOptions(slots=1, ctx_per_slot=256, weights=weights), cache_dir=tmp_path)
    again.close()
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]  # reused, no leftovers
    assert cached.stat().st_mtime_ns == made


def test_unknown_weight_formats_are_refused() -> None:
    with pytest.raises(ValueError, match="weights must be"):
        LlamaCppOptions(weights="q2_k")


def test_an_urgent_request_takes_a_busy_slot_and_the_displaced_one_still_finishes() -> None:
    harness = Harness(LlamaCppOptions(slots=1, ctx_per_slot=512))
    try:

        async def scenario() -> tuple[ChatResult, ChatResult, ChatResult, list[str]]:
            order: list[str] = []

            async def run(name: str, request: ChatRequest, urgent: bool) -> ChatResult:
                result = await harness.engine.generate(request, urgent=urgent)
                order.append(name)
                return result

            alone = await harness.engine.generate(ask("Write a story about the sea.", temperature=0, max_tokens=120))
            long = asyncio.create_task(
                run("long", ask("Write a story about the sea.", temperature=0, max_tokens=120), False)
            )
            await asyncio.sleep(0.3)  # it holds the only slot now
            quick = await run("quick", ask("Say hi.", temperature=0, max_tokens=3), True)
            return alone, await long, quick, order

        alone, long, quick, order = harness.run(scenario())
        assert order == ["quick", "long"]
        assert quick.completion_tokens == 3
        assert long.text == alone.text and long.completion_tokens == alone.completion_tokens  # restarted cleanly
    finally:
        harness.close()


def test_after_an_urgent_request_queued_work_leaves_a_slot_free_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    from sference_server.engines.llamacpp import decoder

    monkeypatch.setattr(decoder, "URGENT_WINDOW", 1.5)
    harness = Harness(LlamaCppOptions(slots=4, ctx_per_slot=512))
    try:

        async def scenario() -> tuple[int, int, list[ChatResult]]:
            assert harness.engine._decoder is not None
            slots = harness.engine._decoder.slots
            await harness.engine.generate(ask("Say hi.", temperature=0, max_tokens=3), urgent=True)
            count = ask("Count from 1 to 1000, separated by commas.", temperature=0, max_tokens=400)
            jobs = [asyncio.create_task(harness.engine.generate(count)) for _ in range(4)]
            await asyncio.sleep(0.3)
            within = sum(1 for slot in slots if slot.job is not None)
            await asyncio.sleep(1.5)  # the window has passed
            after = sum(1 for slot in slots if slot.job is not None)
            return within, after, await asyncio.gather(*jobs)

        within, after, results = harness.run(scenario())
        assert within == 3  # one slot kept for the next urgent request
        assert after == 4  # all four still running once the window passed
        assert len({r.text for r in results}) == 1  # greedy: the short steps change no answer
    finally:
        harness.close()
