"""Embeddings and decisions through the API, the queue and the real embedded models: interactive
(``/v1/embeddings``, ``/openai/v1/embeddings`` with the ``openai`` package, ``/v1/decisions``), as
rows of an sference batch and of an OpenAI Batch, and listed in ``/v1/models`` by modality."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

import httpx
import numpy as np
import pytest
from openai import OpenAI

from sference_server.config import DECISIONS_MODEL_ID, EMBEDDING_MODEL_ID
from support.settings import ECHO_MODEL

from .conftest import Api

MODELS = {
    "models": [
        {"id": ECHO_MODEL, "engine": "echo"},
        {"id": EMBEDDING_MODEL_ID, "engine": "bert"},
        {"id": DECISIONS_MODEL_ID, "engine": "llamacpp", "modality": "decisions", "options": {"slots": 2}},
    ]
}
pytestmark = pytest.mark.parametrize("server_overrides", [MODELS])


def http(api: Api, name: str = "ann") -> httpx.Client:
    _, key = api._make_user(name)
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_embeddings_float_base64_and_dimensions(api: Api) -> None:
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse."]
    with http(api) as client:
        reply = client.post("/v1/embeddings", json={"model": EMBEDDING_MODEL_ID, "input": texts})
        packed = client.post(
            "/v1/embeddings", json={"model": EMBEDDING_MODEL_ID, "input": texts[0], "encoding_format": "base64"}
        ).json()
        short = client.post("/v1/embeddings", json={"model": EMBEDDING_MODEL_ID, "input": texts[0], "dimensions": 32})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["object"] == "list" and body["model"] == EMBEDDING_MODEL_ID
    vectors = [d["embedding"] for d in body["data"]]
    assert [d["index"] for d in body["data"]] == [0, 1, 2] and {len(v) for v in vectors} == {384}
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
    # sentence-transformers 6.2 gives 0.7553 and 0.2474 for these pairs.
    assert cosine(vectors[0], vectors[1]) == pytest.approx(0.7553, abs=0.005)
    assert cosine(vectors[0], vectors[2]) == pytest.approx(0.2474, abs=0.005)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 3 * 2
    decoded = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, vectors[0], atol=1e-6)
    cut = short.json()["data"][0]["embedding"]
    assert len(cut) == 32 and abs(np.linalg.norm(cut) - 1) < 1e-5


def test_embedding_requests_that_cannot_run_are_400s_naming_the_field(api: Api) -> None:
    with http(api) as client:
        empty = client.post("/v1/embeddings", json={"model": EMBEDDING_MODEL_ID, "input": ["ok", ""]})
        assert empty.status_code == 400 and "input[1]" in empty.text
        wide = client.post("/v1/embeddings", json={"model": EMBEDDING_MODEL_ID, "input": "x", "dimensions": 385})
        assert wide.status_code == 400 and "dimensions" in wide.text
        chat_model = client.post("/v1/embeddings", json={"model": ECHO_MODEL, "input": "x"})
        assert chat_model.status_code == 400 and "text_generation model" in chat_model.text
        unknown = client.post("/v1/embeddings", json={"model": "nope", "input": "x"})
        assert unknown.status_code == 400 and EMBEDDING_MODEL_ID in unknown.text
        chat = client.post("/openai/v1/chat/completions", json={"model": EMBEDDING_MODEL_ID, "messages": []})
        assert chat.status_code == 400 and "text_embedding model" in chat.text


def test_the_openai_package_embeds_and_runs_an_embeddings_batch(api: Api) -> None:
    _, key = api._make_user("ann")
    client = OpenAI(base_url=f"{api.url}/openai/v1", api_key=key, max_retries=0)
    created = client.embeddings.create(
        model=EMBEDDING_MODEL_ID, input=["The new movie is awesome", "The new movie is so great"]
    )
    first, second = (d.embedding for d in created.data)
    assert cosine(first, second) == pytest.approx(0.8939, abs=0.005)
    assert created.usage.prompt_tokens > 0

    lines = [
        json.dumps(
            {
                "custom_id": f"e{i}",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": EMBEDDING_MODEL_ID, "input": text},
            }
        )
        for i, text in enumerate(["The new movie is awesome", "The new movie is so great"])
    ]
    upload = client.files.create(file=("e.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/embeddings", completion_window="24h")
    deadline = time.monotonic() + 60
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id
    rows = [json.loads(row) for row in client.files.content(batch.output_file_id).read().splitlines()]
    vectors = {row["custom_id"]: row["response"]["body"]["data"][0]["embedding"] for row in rows}
    assert np.allclose(vectors["e0"], first, atol=1e-6) and np.allclose(vectors["e1"], second, atol=1e-6)
    assert rows[0]["response"]["body"]["object"] == "list"

    wrong = client.files.create(file=("w.jsonl", io.BytesIO(lines[0].encode())), purpose="batch")
    refused = client.batches.create(input_file_id=wrong.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert refused.status == "failed" and refused.errors is not None


def test_embedding_rows_of_an_sference_batch(api: Api) -> None:
    """Each row's vectors are written as its request asks: floats, or base64 (the results read
    the request back for that)."""
    rows = [{"custom_id": f"r{i}", "body": {"model": EMBEDDING_MODEL_ID, "input": f"sentence {i}"}} for i in range(3)]
    rows[2]["body"]["encoding_format"] = "base64"
    with http(api) as client:
        batch = client.post("/v1/batches", json={"window": "24h", "requests": rows})
        assert batch.status_code == 201, batch.text
        deadline = time.monotonic() + 60
        while (status := client.get(f"/v1/batches/{batch.json()['id']}").json())["status"] != "completed":
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        results = client.get(f"/v1/batches/{batch.json()['id']}/results").json()["results"]
    assert [r["custom_id"] for r in results] == ["r0", "r1", "r2"]
    assert all(len(r["result_json"]["data"][0]["embedding"]) == 384 for r in results[:2])
    packed = base64.b64decode(results[2]["result_json"]["data"][0]["embedding"])
    assert np.frombuffer(packed, dtype="float32").shape == (384,)
    assert status["total_prompt_tokens"] > 0 and status["total_completion_tokens"] == 0


def test_decisions(api: Api) -> None:
    questions: dict[str, Any] = {
        "topic": {
            "type": "choice",
            "instructions": "What is the text about?",
            "criteria": {"cooking": "food and recipes", "football": "the sport"},
        },
        "mood": {"type": "score", "criteria": ["sad", "neutral", "happy"]},
        "recipe": {"type": "noul", "instructions": "Is this a recipe?"},
    }
    state = "Whisk two eggs with sugar, fold in the flour and bake the cake for 30 minutes."
    with http(api) as client:
        reply = client.post("/v1/decisions", json={"model": DECISIONS_MODEL_ID, "state": state, "questions": questions})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        bad = client.post(
            "/v1/decisions",
            json={
                "model": DECISIONS_MODEL_ID,
                "state": state,
                "questions": {"topic": {"type": "choice", "criteria": {}}},
            },
        )
        images = client.post(
            "/v1/decisions",
            json={"model": DECISIONS_MODEL_ID, "state": state, "questions": questions, "images": ["aGk="]},
        )
        chat_model = client.post("/v1/decisions", json={"model": ECHO_MODEL, "state": state, "questions": questions})
    assert body["model"] == DECISIONS_MODEL_ID and set(body["answers"]) == set(questions)
    topic = body["answers"]["topic"]
    assert topic["type"] == "choice" and topic["choice"] in ("cooking", "football")
    assert sum(topic["probabilities"].values()) == pytest.approx(1.0)
    mood = body["answers"]["mood"]
    assert mood["type"] == "score" and 0 <= mood["score"] <= 2 and set(mood["probabilities"]) == {"0", "1", "2"}
    assert 0 <= body["answers"]["recipe"]["noul"] <= 1
    assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] == 0
    assert bad.status_code == 400 and "questions.topic" in bad.text
    assert images.status_code == 400 and "images" in images.text
    assert chat_model.status_code == 400 and "text_generation model" in chat_model.text


def test_models_are_listed_by_modality(api: Api) -> None:
    with http(api) as client:
        listed = client.get("/v1/models").json()
        openai_listed = client.get("/openai/v1/models").json()
    modality = {m["id"]: m["modality"] for m in listed["data"]}
    assert modality == {
        ECHO_MODEL: "text_generation",
        EMBEDDING_MODEL_ID: "text_embedding",
        DECISIONS_MODEL_ID: "decisions",
    }
    embedding = next(m for m in listed["data"] if m["id"] == EMBEDDING_MODEL_ID)
    assert embedding["capabilities"]["dimensions"] == 384 and embedding["context_tokens"] == 256
    assert {m["id"]: m["modality"] for m in openai_listed["data"]} == modality
    assert listed["has_more"] is False and listed["first_id"] == ECHO_MODEL
