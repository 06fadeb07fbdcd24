"""The bert engine on the real all-MiniLM-L6-v2 (the packaged model), against values computed
independently with sentence-transformers 6.2.0 and torch (``normalize_embeddings=True``)."""

from __future__ import annotations

import asyncio
import os
import zipfile
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from safetensors.numpy import save as save_safetensors

from sference_server.engines.base import ChatRequest, EmbeddingRequest, EmbeddingResult, EngineError
from sference_server.engines.bert.engine import BertEngine
from sference_server.engines.bert.model import BertModel, limit_blas_threads, packaged_model_path, read_safetensors
from sference_server.engines.bert.options import BertOptions

pytestmark = pytest.mark.slow
T = TypeVar("T")

SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "A man is riding a horse.",
    "The new movie is awesome",
    "The new movie is so great",
]
# Cosine similarities by sentence-transformers (the first three are its README's example).
SIMILARITIES = {(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411, (3, 4): 0.7553, (3, 5): 0.2474, (6, 7): 0.8939}
FIRST_VALUES = [0.019196, 0.120085, 0.159598, 0.067066]  # of SENTENCES[0]'s vector
FIRST_IDS = [101, 1996, 4633, 2003, 8403, 2651, 1012, 102]  # SENTENCES[0] tokenized, [CLS] ... [SEP]
LONG = " ".join(["the quick brown fox jumps over the lazy dog"] * 60)  # 540 words


class Harness:
    """One engine on its own event loop, callable from sync tests."""

    def __init__(self, options: BertOptions) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = BertEngine("minilm", options)
        self.run(self.engine.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def embed(self, inputs: list[str], dimensions: int | None = None) -> EmbeddingResult:
        return self.run(self.engine.embed(EmbeddingRequest(inputs, dimensions)))

    def close(self) -> None:
        self.run(self.engine.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def engine() -> Iterator[Harness]:
    harness = Harness(BertOptions(batch_size=4))
    yield harness
    harness.close()


@pytest.fixture(scope="module")
def model(engine: Harness) -> BertModel:
    assert engine.engine._model is not None
    return engine.engine._model


def test_vectors_match_sentence_transformers(engine: Harness) -> None:
    result = engine.embed(SENTENCES)
    vectors = np.array(result.vectors)
    assert vectors.shape == (8, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for (a, b), expected in SIMILARITIES.items():
        assert abs(float(vectors[a] @ vectors[b]) - expected) < 0.005, (a, b)
    np.testing.assert_allclose(vectors[0, :4], FIRST_VALUES, atol=1e-4)


def test_paraphrases_score_higher_than_unrelated_pairs(engine: Harness) -> None:
    v = np.array(engine.embed(SENTENCES).vectors)
    related = min(v[0] @ v[1], v[3] @ v[4], v[6] @ v[7])
    unrelated = max(v[0] @ v[2], v[3] @ v[6], v[5] @ v[7], v[1] @ v[4])
    assert related > unrelated + 0.3


def test_tokens_and_usage(engine: Harness, model: BertModel) -> None:
    assert model.tokenize(SENTENCES[:1]) == [FIRST_IDS]
    assert engine.embed(SENTENCES[:1]).prompt_tokens == len(FIRST_IDS)
    assert engine.embed(SENTENCES[:2]).prompt_tokens == len(FIRST_IDS) + len(model.tokenize(SENTENCES[1:2])[0])


def test_a_vector_does_not_depend_on_its_batch(engine: Harness) -> None:
    alone = np.array(engine.embed([SENTENCES[3]]).vectors[0])
    # With a long text and others in one request, the sentence is padded to a longer batch.
    batched = engine.embed([LONG[:400], SENTENCES[0], SENTENCES[3], SENTENCES[5], LONG[:700]])
    np.testing.assert_allclose(np.array(batched.vectors[2]), alone, atol=1e-5)


def test_long_inputs_are_cut_at_max_tokens(engine: Harness, model: BertModel) -> None:
    assert len(model.tokenize([LONG])[0]) == 256
    result = engine.embed([LONG, LONG + " and then it rained for days and days"])
    assert result.prompt_tokens == 512
    # Only the first 256 tokens count: what comes after them changes nothing.
    np.testing.assert_allclose(result.vectors[0], result.vectors[1], atol=1e-6)


def test_max_tokens_option_cuts_earlier() -> None:
    model = BertModel.load(max_tokens=16)
    assert len(model.tokenize([LONG])[0]) == 16
    assert model.tokenize(SENTENCES[:1]) == [FIRST_IDS]


def test_dimensions_cut_and_renormalise(engine: Harness) -> None:
    full = np.array(engine.embed(SENTENCES[:2]).vectors)
    cut = np.array(engine.embed(SENTENCES[:2], dimensions=64).vectors)
    assert cut.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(cut, full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True), atol=1e-6)
    assert np.array(engine.embed(SENTENCES[:1], dimensions=384).vectors).shape == (1, 384)


def test_requests_beyond_the_limits_are_refused(engine: Harness) -> None:
    with pytest.raises(EngineError) as too_wide:
        engine.embed(SENTENCES[:1], dimensions=385)
    assert too_wide.value.code == "invalid_request" and not too_wide.value.transient
    with pytest.raises(EngineError) as too_many:
        engine.embed(["x"] * 2049)
    assert too_many.value.code == "invalid_request"


def test_generate_refuses(engine: Harness) -> None:
    with pytest.raises(EngineError) as refused:
        engine.run(engine.engine.generate(ChatRequest(messages=[{"role": "user", "content": "hi"}])))
    assert refused.value.code == "unsupported" and not refused.value.transient
    assert "/v1/embeddings" in refused.value.message


def test_concurrent_requests_share_batches_and_keep_their_order(engine: Harness) -> None:
    async def together() -> list[EmbeddingResult]:
        requests = [EmbeddingRequest([s]) for s in SENTENCES] + [EmbeddingRequest(SENTENCES[::-1])]
        urgent = engine.engine.embed(EmbeddingRequest(SENTENCES[:2]), urgent=True)
        return list(await asyncio.gather(*(engine.engine.embed(r) for r in requests), urgent))

    results = engine.run(together())
    reference = np.array(engine.embed(SENTENCES).vectors)
    for i in range(8):
        np.testing.assert_allclose(results[i].vectors[0], reference[i], atol=1e-5)
    np.testing.assert_allclose(results[8].vectors, reference[::-1], atol=1e-5)
    np.testing.assert_allclose(results[9].vectors, reference[:2], atol=1e-5)


def test_a_cancelled_request_leaves_the_engine_working(engine: Harness) -> None:
    async def cancel_one() -> EmbeddingResult:
        doomed = asyncio.ensure_future(engine.engine.embed(EmbeddingRequest([LONG] * 8)))
        await asyncio.sleep(0)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return await engine.engine.embed(EmbeddingRequest(SENTENCES[:1]))

    assert len(engine.run(cancel_one()).vectors) == 1
    assert engine.engine.state() == "ready"


def test_threads_share_the_work_without_changing_the_vectors(model: BertModel) -> None:
    threaded = BertModel.load(threads=3)
    try:
        texts = [*SENTENCES, LONG, LONG[:300]] * 20  # enough rows for three parts
        np.testing.assert_allclose(threaded.embed(texts).vectors, model.embed(texts).vectors, atol=1e-6)
    finally:
        threaded.close()


def test_a_folder_and_the_zip_load_the_same_model(tmp_path: Path) -> None:
    with zipfile.ZipFile(packaged_model_path()) as packed:
        packed.extractall(tmp_path)
    from_folder = BertModel.load(tmp_path)
    from_zip = BertModel.load()
    np.testing.assert_array_equal(from_folder.embed(SENTENCES[:2]).vectors, from_zip.embed(SENTENCES[:2]).vectors)


def test_safetensors_read_in_place_as_the_library_writes_them() -> None:
    tensors = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.array([1.5, -2.25], dtype=np.float16),
        "c": np.array([[7]], dtype=np.int64),
    }
    read = read_safetensors(bytearray(save_safetensors(tensors, metadata={"format": "np"})))
    assert sorted(read) == ["a", "b", "c"]
    for name, tensor in tensors.items():
        assert read[name].dtype == tensor.dtype
        np.testing.assert_array_equal(read[name], tensor)
    with pytest.raises(ValueError, match="dtype BOOL is not supported"):
        read_safetensors(bytearray(save_safetensors({"d": np.array([True])})))


def test_blas_threads_can_be_limited() -> None:
    # numpy's wheels bundle OpenBLAS; the limit is process-wide, so it is put back at once.
    assert limit_blas_threads(1)
    assert limit_blas_threads(len(os.sched_getaffinity(0)))


def test_stop_then_state() -> None:
    harness = Harness(BertOptions())
    assert harness.engine.state() == "ready"
    harness.close()
    assert harness.engine.state() == "stopped"


def test_options_are_checked() -> None:
    assert BertOptions.parse({"batch_size": 8}).batch_size == 8
    with pytest.raises(ValueError, match="unknown bert options: batch"):
        BertOptions.parse({"batch": 8})
    with pytest.raises(ValueError, match="max_tokens must be a positive integer"):
        BertOptions.parse({"max_tokens": 0})
    with pytest.raises(ValueError, match="exceeds the model's 512 positions"):
        BertModel.load(max_tokens=1024)
