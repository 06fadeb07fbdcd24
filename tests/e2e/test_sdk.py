"""The SDK's sync and async clients run the same end-to-end scenario against a live server
with the real embedded model."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sference_sdk import AsyncSferenceClient, BadRequestError, Batch, InferenceRequest, NotFoundError, SferenceClient
from sference_server.config import EMBEDDED_MODEL_ID, ModelSpec, Settings
from sference_server.services import ApiServices
from sference_server.store.database import Database
from support.jsonl import EXAMPLES
from support.live import ThreadServer

pytestmark = pytest.mark.slow


class Synchronous:
    """Gives the async client the sync client's calling convention, so one test drives both."""

    def __init__(self, client: AsyncSferenceClient) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(method(*args, **kwargs))

        return call

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


@pytest.fixture
def server(tmp_path: Path, database_url: str, db: Database) -> Iterator[ThreadServer]:
    model = ModelSpec(
        id=EMBEDDED_MODEL_ID, engine="llamacpp", options={"slots": 4, "ctx_per_slot": 512, "max_tokens": 48}
    )
    settings = Settings(data_dir=tmp_path, database_url=database_url, models=[model], poll_seconds=0.05)
    with ThreadServer(ApiServices.build(settings, db)) as live:
        yield live


@pytest.fixture(params=["sync", "async"])
def client(
    request: pytest.FixtureRequest, server: ThreadServer, make_user: Callable[..., tuple[str, str]]
) -> Iterator[Any]:
    _, key = make_user("ann")
    if request.param == "sync":
        with SferenceClient(base_url=server.url, api_key=key) as sync:
            yield sync
    else:
        wrapped = Synchronous(AsyncSferenceClient(base_url=server.url, api_key=key))
        yield wrapped
        wrapped.close()


def test_batch_lifecycle(client: Any, tmp_path: Path) -> None:
    assert client.get_me()["username"] == "ann"
    batch = client.submit_batch(input_file=EXAMPLES / "example_batch.jsonl")
    assert isinstance(batch, Batch) and batch.status == "pending" and batch.request_count == 3
    seen: list[str] = []
    done = client.wait_for_completion(batch.id, poll_interval=0.2, timeout=240, on_poll=lambda b: seen.append(b.status))
    assert done.status == "completed" and seen[-1] == "completed"
    assert done.request_counts is not None and done.request_counts.completed == 3

    rows = client.get_results(batch.id).index_by_custom_id()
    assert set(rows) == {"greeting", "capital", "colors"}
    assert all(row.completion_text for row in rows.values())
    assert "Paris" in (rows["capital"].completion_text or "")

    path = tmp_path / "sub" / "results.jsonl"
    client.download_results_jsonl(batch.id, path)
    buffer = io.BytesIO()
    client.download_results_jsonl(batch.id, buffer)
    assert path.read_bytes() == buffer.getvalue() and len(buffer.getvalue().splitlines()) == 3
    assert [b.id for b in client.list_batches().items] == [batch.id]


def test_inline_requests_content_files_and_cancel(client: Any) -> None:
    rows = [
        InferenceRequest(custom_id=f"r{i}", body={"model": EMBEDDED_MODEL_ID, "input": f"Count to {i}."})
        for i in range(30)
    ]
    batch = client.submit_batch(requests=rows)
    cancelled = client.cancel_batch(batch.id)
    assert cancelled.status == "cancelled"
    assert client.wait_for_completion(batch.id, timeout=5).status == "cancelled"

    prompts = client.submit_batch(input_file=EXAMPLES / "prompts.jsonl", model=EMBEDDED_MODEL_ID)
    assert prompts.request_count == 3
    results = client.get_results(client.wait_for_completion(prompts.id, poll_interval=0.2, timeout=240).id)
    assert [r.custom_id for r in results.rows()] == ["request-1", "request-2", "request-3"]


def test_errors_are_typed(client: Any) -> None:
    with pytest.raises(NotFoundError):
        client.get_batch("does-not-exist")
    bad = [{"custom_id": "x", "body": {"model": EMBEDDED_MODEL_ID, "messages": []}}]
    with pytest.raises(BadRequestError) as caught:
        client.submit_batch(requests=bad)
    assert caught.value.detail.startswith("requests[0] (custom_id 'x')")
    slow = client.submit_batch(requests=[{"custom_id": "s", "body": {"model": EMBEDDED_MODEL_ID, "input": "Hi"}}])
    with pytest.raises(TimeoutError, match="still"):
        client.wait_for_completion(slow.id, poll_interval=0.05, timeout=0.01)
