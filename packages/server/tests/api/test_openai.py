"""The OpenAI-compatible surface, driven by the official ``openai`` package over real HTTP
(echo engine, real store)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from sference_server.store.tables import items
from support.settings import ECHO_MODEL

from .conftest import Api

SLOW = {"models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 1, "token_delay": 0.02}}]}


def client_for(api: Api, name: str = "ann") -> OpenAI:
    _, key = api._make_user(name)
    return OpenAI(base_url=f"{api.url}/openai/v1", api_key=key, max_retries=0)


def line(custom_id: str, content: str, *, url: str = "/v1/chat/completions", **body: Any) -> str:
    payload = {"model": ECHO_MODEL, "messages": [{"role": "user", "content": content}], **body}
    if url == "/v1/responses":
        payload = {"model": ECHO_MODEL, "input": content, **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": payload})


def upload(client: OpenAI, lines: list[str]) -> str:
    return client.files.create(file=("batch.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch").id


def finish(client: OpenAI, batch_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    batch = client.batches.retrieve(batch_id)
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.05)
        batch = client.batches.retrieve(batch_id)
    return batch


def test_files(api: Api) -> None:
    client = client_for(api)
    content = "\n".join(line(f"r{i}", "x") for i in range(3)).encode()
    created = client.files.create(file=("in.jsonl", io.BytesIO(content)), purpose="batch")
    assert created.bytes == len(content) and created.filename == "in.jsonl" and created.purpose == "batch"
    assert client.files.retrieve(created.id).id == created.id
    assert client.files.content(created.id).read() == content
    assert [f.id for f in client.files.list()] == [created.id]
    assert client.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError) as missing:
        client.files.retrieve(created.id)
    assert missing.value.body["message"].startswith("No such File object")  # type: ignore[index]
    assert client_for(api, "bob").files.list().data == []


@pytest.mark.parametrize("server_overrides", [{"max_batch_bytes": 1000}])
def test_uploads_have_a_size_limit(api: Api) -> None:
    client = client_for(api)
    with pytest.raises(openai.APIStatusError) as too_big:
        client.files.create(file=("big.jsonl", io.BytesIO(b"x" * 5000)), purpose="batch")
    assert too_big.value.status_code == 413


def test_the_batch_guide_flow(api: Api) -> None:
    client = client_for(api)
    lines = [line(f"r{i}", f"hello {i}") for i in range(8)] + [line("broken", "[[fail:permanent]]")]
    batch = client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.status == "in_progress" and batch.request_counts.total == 9 and batch.metadata == {"job": "nightly"}
    done = finish(client, batch.id)
    assert done.status == "completed" and done.completed_at and done.finalizing_at
    assert (done.request_counts.completed, done.request_counts.failed) == (8, 1)
    output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in output] == [f"r{i}" for i in range(8)]
    usage = [o["response"]["body"]["usage"] for o in output]
    assert done.usage is not None and done.usage.input_tokens == sum(u["prompt_tokens"] for u in usage)
    assert done.usage.output_tokens == sum(u["completion_tokens"] for u in usage)
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    assert (done.usage.input_tokens_details.cached_tokens, done.usage.output_tokens_details.reasoning_tokens) == (0, 0)
    first = output[0]
    assert first["response"]["status_code"] == 200 and first["error"] is None
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "echo: hello 0"
    errors = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert errors == [
        {
            "id": errors[0]["id"],
            "custom_id": "broken",
            "response": None,
            "error": {"code": "invalid_request", "message": "the echo engine was asked to fail"},
        }
    ]
    output_file = client.files.retrieve(done.output_file_id)
    assert output_file.purpose == "batch_output" and output_file.bytes == len(
        client.files.content(done.output_file_id).content
    )
    assert client.batches.retrieve(batch.id).output_file_id == done.output_file_id  # made once


def test_the_responses_endpoint_writes_response_objects(api: Api) -> None:
    client = client_for(api)
    file_id = upload(client, [line("a", "one two", url="/v1/responses", max_output_tokens=10)])
    done = finish(
        client, client.batches.create(input_file_id=file_id, endpoint="/v1/responses", completion_window="24h").id
    )
    (out,) = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    body = out["response"]["body"]
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0] == {"type": "output_text", "text": "echo: one two", "annotations": []}
    assert done.error_file_id is None


def test_bad_input_files_fail_validation_naming_the_lines(api: Api) -> None:
    client = client_for(api)
    lines = [
        line("a", "fine"),
        json.dumps(
            {
                "custom_id": "b",
                "method": "GET",
                "url": "/v1/chat/completions",
                "body": {"model": ECHO_MODEL, "messages": [{"role": "user", "content": "x"}]},
            }
        ),
        line("c", "x", url="/v1/embeddings"),
        line("a", "again"),
        "{not json",
        json.dumps(
            {
                "custom_id": "e",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-x", "messages": [{"role": "user", "content": "x"}]},
            }
        ),
        json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}),
    ]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "failed" and batch.failed_at and batch.output_file_id is None
    found = {(e.line, e.code) for e in batch.errors.data}  # type: ignore[union-attr]
    assert {
        (2, "invalid_method"),
        (3, "mismatched_url"),
        (4, "duplicate_custom_id"),
        (5, "invalid_json_line"),
        (6, "invalid_body"),
        (7, "missing_required_parameter"),
    } <= found
    assert 1 not in {e.line for e in batch.errors.data}  # type: ignore[union-attr]
    with api.services.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(items)).scalar() == 0  # nothing queued
    with pytest.raises(openai.BadRequestError) as endpoint:
        client.batches.create(
            input_file_id=upload(client, [line("a", "x")]), endpoint="/v1/completions", completion_window="24h"
        )
    assert endpoint.value.body["param"] == "endpoint"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")


@pytest.mark.parametrize("server_overrides", [SLOW])
def test_cancel_keeps_what_finished(api: Api) -> None:
    client = client_for(api)
    file_id = upload(client, [line(f"r{i}", "w " * 20) for i in range(30)])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    while client.batches.retrieve(batch.id).request_counts.completed < 2:  # type: ignore[union-attr]
        time.sleep(0.02)
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    partial = client.files.content(cancelled.output_file_id).text.splitlines()
    assert 2 <= len(partial) < 30
    errors = [json.loads(x) for x in client.files.content(cancelled.error_file_id).text.splitlines()]
    assert len(partial) + len(errors) == 30 and {e["error"]["code"] for e in errors} == {"batch_cancelled"}


def test_listing_batches_pages_newest_first(api: Api) -> None:
    client = client_for(api)
    file_id = upload(client, [line("a", "x")])
    ids = [
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id
        for _ in range(3)
    ]
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    rest = client.batches.list(limit=2, after=page.data[-1].id)
    assert [b.id for b in rest.data] == [ids[0]]
    assert [b.id for b in client.batches.list()] == ids[::-1]  # the client follows the pages itself
    with pytest.raises(openai.NotFoundError):
        client_for(api, "bob").batches.retrieve(ids[0])


def test_chat_completions(api: Api) -> None:
    client = client_for(api)
    reply = client.chat.completions.create(model=ECHO_MODEL, messages=[{"role": "user", "content": "hi there"}])
    assert reply.choices[0].message.content == "echo: hi there" and reply.usage and reply.usage.completion_tokens == 3
    chunks = list(
        client.chat.completions.create(
            model=ECHO_MODEL,
            messages=[{"role": "user", "content": "a b"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b"
    assert chunks[-1].usage is not None and chunks[-2].choices[0].finish_reason == "stop"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "x"}])
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=ECHO_MODEL, messages=[{"role": "user", "content": "[[fail:permanent]]"}])
    native = httpx.post(
        f"{api.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {client.api_key}"},
        json={"model": ECHO_MODEL, "messages": [{"role": "user", "content": "native"}]},
    ).json()
    assert native["choices"][0]["message"]["content"] == "echo: native"
    assert [m.id for m in client.models.list()] == [ECHO_MODEL]
    assert client.models.retrieve(ECHO_MODEL).model_extra == {
        "max_model_len": 4097,  # the context, as vLLM says it
        "modality": "text_generation",
    }


def test_responses_blocking_and_background(api: Api) -> None:
    client = client_for(api)
    blocking = client.responses.create(model=ECHO_MODEL, input="plain input", instructions="be brief")
    assert blocking.status == "completed" and blocking.output_text == "echo: plain input"
    short = client.responses.create(model=ECHO_MODEL, input="one two three", max_output_tokens=2)
    assert (
        short.status == "incomplete"
        and short.incomplete_details
        and short.incomplete_details.reason == "max_output_tokens"
    )
    background = client.responses.create(model=ECHO_MODEL, input="later", background=True, metadata={"k": "v"})
    assert background.status in ("queued", "in_progress", "completed")
    for _ in range(200):
        background = client.responses.retrieve(background.id)
        if background.status == "completed":
            break
        time.sleep(0.02)
    assert background.output_text == "echo: later" and background.metadata == {"k": "v"}
    with pytest.raises(openai.ConflictError):
        client.responses.cancel(background.id)


@pytest.mark.parametrize("server_overrides", [SLOW])
def test_an_interactive_request_does_not_wait_behind_a_batch(api: Api) -> None:
    client = client_for(api)
    file_id = upload(client, [line(f"r{i}", "w " * 25) for i in range(60)])  # ~0.5 s each, one slot
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    while client.batches.retrieve(batch.id).request_counts.completed < 1:  # type: ignore[union-attr]
        time.sleep(0.02)
    started = time.monotonic()
    reply = client.chat.completions.create(model=ECHO_MODEL, messages=[{"role": "user", "content": "urgent"}])
    waited = time.monotonic() - started
    assert reply.choices[0].message.content == "echo: urgent"
    remaining = client.batches.retrieve(batch.id).request_counts
    assert remaining.completed < 20, remaining  # the batch was far from done: the reply did not wait for it
    assert waited < 5, waited
    client.batches.cancel(batch.id)


@pytest.mark.parametrize("server_overrides", [SLOW])
def test_a_client_that_goes_away_cancels_its_request(api: Api) -> None:
    client = client_for(api)
    with pytest.raises(httpx.TimeoutException):
        httpx.post(
            f"{api.url}/openai/v1/chat/completions",
            headers={"Authorization": f"Bearer {client.api_key}"},
            json={"model": ECHO_MODEL, "messages": [{"role": "user", "content": "w " * 800}]},
            timeout=2,  # time enough to be queued on a loaded machine; the work takes ~16 s
        )
    deadline = time.monotonic() + 12
    while True:  # the server notices the closed connection and stops the work
        with api.services.db.read() as conn:
            status = conn.execute(select(items.c.status)).scalar()
        if status == "cancelled":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
