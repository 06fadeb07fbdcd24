"""sference in front of real OpenAI-compatible servers (``python -m llama_cpp.server`` on the
embedded GGUF), as separate processes: a mixed fleet in ``serve``, token streaming through it,
a replica killed mid-batch, and streaming with ``api`` and ``worker`` apart on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from support.batches import result_rows, wait_terminal
from support.upstream import LlamaCppServer, ThrottlingUpstream, free_port

from .conftest import Start

pytestmark = pytest.mark.slow
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"
UPSTREAM = "upstream/smollm2-135m"
KEY = "sk_e2e_admin_key_0123456789abcdef"


def env(database_url: str, models: list[dict[str, object]]) -> dict[str, str]:
    return {
        "SFERENCE_DATABASE_URL": database_url,
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_LEASE_SECONDS": "6",
        "SFERENCE_POLL_SECONDS": "0.1",
        "SFERENCE_MODELS": json.dumps(models),
    }


def upstream_model(*base_urls: str, **options: object) -> dict[str, object]:
    return {
        "id": UPSTREAM,
        "engine": "openai",
        "options": {"base_urls": list(base_urls), "context_tokens": 2048, **options},
    }


EMBEDDED_SMALL = {"id": EMBEDDED, "engine": "llamacpp", "options": {"slots": 4, "ctx_per_slot": 512, "threads": 1}}


def rows(n: int, model: str = UPSTREAM) -> list[dict[str, object]]:
    return [
        {
            "custom_id": f"req-{i}",
            "body": {"model": model, "max_tokens": 12, "temperature": 0,
                     "messages": [{"role": "user", "content": f"Count from {i} to {i + 5}."}]},
        }
        for i in range(n)
    ]  # fmt: skip


def streamed(client: OpenAI, model: str) -> tuple[float, list[str], list[str]]:
    """First-token time and the deltas of a chat stream and of a Responses stream."""
    started = time.monotonic()
    first: float | None = None
    chat = []
    for chunk in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Tell me about the sea."}], max_tokens=24, stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.monotonic() - started
            chat.append(chunk.choices[0].delta.content)
    events = list(client.responses.create(model=model, input="Tell me about trees.", max_output_tokens=24, stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert "".join(deltas) == events[-1].response.output_text  # type: ignore[union-attr]
    assert first is not None
    return first, chat, deltas


def test_a_mixed_fleet_serves_batches_and_streams_from_an_upstream_and_the_embedded_model(
    start: Start, tmp_path: Path
) -> None:
    with LlamaCppServer(tmp_path / "upstream.log") as upstream:
        url = f"sqlite:///{tmp_path / 'sference.db'}"
        server = start("serve", "--port", "0", env=env(url, [upstream_model(upstream.base_url), EMBEDDED_SMALL]))
        http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        models = {m["id"]: m for m in http.get("/v1/models").json()["data"]}
        assert models[UPSTREAM]["engine"] == "openai" and models[UPSTREAM]["context_tokens"] == 2048
        assert models[EMBEDDED]["context_tokens"] == 512
        batch = http.post("/v1/batches", json={"requests": rows(6)}).json()
        assert wait_terminal(http, batch["id"], timeout=120)["status"] == "completed"
        results = result_rows(http, batch["id"])
        assert sorted(r["custom_id"] for r in results) == [f"req-{i}" for i in range(6)]
        assert all(r["result_json"]["choices"][0]["message"]["content"] for r in results)
        assert all(r["result_json"]["usage"]["prompt_tokens"] > 10 for r in results)  # as the upstream counted
        client = OpenAI(base_url=f"{server.url}/openai/v1", api_key=KEY, max_retries=0)
        for model in (UPSTREAM, EMBEDDED):
            first, chat, deltas = streamed(client, model)
            assert len(chat) > 1 and len(deltas) > 1, model
            print(f"{model}: first token after {first * 1000:.0f} ms")


def test_a_replica_killed_mid_batch_loses_nothing(start: Start, tmp_path: Path) -> None:
    with LlamaCppServer(tmp_path / "a.log") as a, LlamaCppServer(tmp_path / "b.log") as b:
        url = f"sqlite:///{tmp_path / 'sference.db'}"
        model = upstream_model(a.base_url, b.base_url, initial_concurrency=2, probe_seconds=0.5)
        server = start("serve", "--port", "0", env=env(url, [model]))
        http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        batch = http.post("/v1/batches", json={"requests": rows(24)}).json()
        deadline = time.monotonic() + 120
        while http.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] < 4:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        a.kill()  # SIGKILL, requests in flight on it
        assert wait_terminal(http, batch["id"], timeout=180)["status"] == "completed"
        results = result_rows(http, batch["id"])
        assert Counter(r["custom_id"] for r in results) == Counter(f"req-{i}" for i in range(24))
        assert [r for r in results if r["status"] != "completed"] == []
        assert "replica http://127.0.0.1:" in server.output() and "taken out" in server.output()


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_streaming_works_with_api_and_worker_apart_on_postgres(start: Start, database_url: str) -> None:
    api = start("api", "--port", "0", env=env(database_url, [EMBEDDED_SMALL]))
    start("worker", env=env(database_url, [EMBEDDED_SMALL]))
    client = OpenAI(base_url=f"{api.url}/openai/v1", api_key=KEY, max_retries=0)
    streamed(client, EMBEDDED)  # the first waits for the worker to load its model
    first, chat, deltas = streamed(client, EMBEDDED)
    assert len(chat) > 1 and len(deltas) > 1
    print(f"across processes: first token after {first * 1000:.0f} ms")


def test_a_model_whose_upstream_stays_down_is_not_ready_until_it_is_back(start: Start, tmp_path: Path) -> None:
    port = free_port()
    model = upstream_model(f"http://127.0.0.1:{port}/v1", unready_after_seconds=1, probe_seconds=0.2)
    server = start("serve", "--port", "0", env=env(f"sqlite:///{tmp_path / 's.db'}", [model]))
    time.sleep(1.5)
    ready = httpx.get(f"{server.url}/v1/health/ready")
    assert ready.status_code == 503
    assert ready.json()["engines"][UPSTREAM].startswith("unavailable: every replica is out")
    (replica,) = ready.json()["replicas"][UPSTREAM]
    assert replica["up"] is False and "ConnectError" in replica["last_error"]
    with ThrottlingUpstream(port=port):
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/v1/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the replica was not probed back in"
            time.sleep(0.1)
