"""Errors, retries and headers over real HTTP, for both clients."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from sference_sdk import (
    API_VERSION,
    AnswerTimeout,
    ApiError,
    AsyncSferenceClient,
    AuthenticationError,
    ConnectionFailed,
    NotFoundError,
    NoulQuestion,
    RateLimitError,
    ServerError,
    SferenceClient,
)
from sference_sdk._core import FileDocument

from .conftest import ScriptedServer

BATCH = {
    "id": "b1",
    "status": "pending",
    "window": "24h",
    "request_count": 1,
    "created_at": "2026-01-01T00:00:00+00:00",
    "updated_at": "2026-01-01T00:00:00+00:00",
}


def call(kind: str, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Run one client method with the sync or the async client."""
    if kind == "sync":
        with SferenceClient(base_url=url, api_key="sk_test", max_retries=2) as client:
            return getattr(client, method)(*args, **kwargs)

    async def run() -> Any:
        async with AsyncSferenceClient(base_url=url, api_key="sk_test", max_retries=2) as client:
            return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(run())


KINDS = ["sync", "async"]


@pytest.mark.parametrize("kind", KINDS)
def test_error_message_keeps_the_0_0_4_format(scripted: ScriptedServer, kind: str) -> None:
    body = {"status_code": 404, "detail": "no batch with id 'x'", "extra": None}
    scripted.on("/v1/batches/x", (404, {}, body))
    with pytest.raises(NotFoundError) as caught:
        call(kind, scripted.url, "get_batch", "x")
    assert str(caught.value) == f"404: {body}"
    assert caught.value.status_code == 404 and caught.value.body == body
    assert caught.value.detail == "no batch with id 'x'"
    assert isinstance(caught.value, ApiError)


@pytest.mark.parametrize("kind", KINDS)
def test_a_non_json_error_body_becomes_detail(scripted: ScriptedServer, kind: str) -> None:
    scripted.on("/v1/auth/me", (401, {"content-type": "text/plain"}, b"go away"))
    with pytest.raises(AuthenticationError, match=r"^401: \{'detail': 'go away'\}$"):
        call(kind, scripted.url, "get_me")


@pytest.mark.parametrize("kind", KINDS)
def test_idempotent_calls_retry_503_and_502_honouring_retry_after(scripted: ScriptedServer, kind: str) -> None:
    scripted.on("/v1/batches/b1", (503, {"retry-after": "0"}, {}), (502, {"retry-after": "0.1"}, {}), (200, {}, BATCH))
    assert call(kind, scripted.url, "get_batch", "b1").id == "b1"
    assert scripted.hits("/v1/batches/b1") == 3


@pytest.mark.parametrize("kind", KINDS)
def test_retries_give_up_after_max_retries(scripted: ScriptedServer, kind: str) -> None:
    scripted.on("/v1/batches/b1", (429, {"retry-after": "0"}, {"detail": "slow down"}))
    with pytest.raises(RateLimitError):
        call(kind, scripted.url, "get_batch", "b1")
    assert scripted.hits("/v1/batches/b1") == 3  # 1 + max_retries


@pytest.mark.parametrize("kind", KINDS)
def test_a_submit_is_not_resent_after_a_502(scripted: ScriptedServer, kind: str) -> None:
    scripted.on("/v1/batches", (502, {"retry-after": "0"}, {"detail": "bad gateway"}))
    rows = [{"custom_id": "a", "body": {"model": "m", "input": "hi"}}]
    with pytest.raises(ServerError):
        call(kind, scripted.url, "submit_batch", requests=rows)
    assert scripted.hits("/v1/batches") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_is_resent_after_a_502_with_the_same_idempotency_key(scripted: ScriptedServer, kind: str) -> None:
    path = "/v1/batches/b0/retry"
    scripted.on(path, (502, {"retry-after": "0"}, {"detail": "bad gateway"}), (201, {}, {**BATCH, "retry_of": "b0"}))
    assert call(kind, scripted.url, "retry_batch", "b0").retry_of == "b0"
    keys = [headers["idempotency-key"] for method, _, headers, _ in scripted.seen if method == "POST"]
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 36
    call(kind, scripted.url, "retry_batch", "b0", idempotency_key="mine")
    assert scripted.seen[-1][2]["idempotency-key"] == "mine"
    call(kind, scripted.url, "retry_batch", "b0")
    assert scripted.seen[-1][2]["idempotency-key"] not in (keys[0], "mine")  # a new call, a new key


@pytest.mark.parametrize("kind", KINDS)
def test_merged_results_ask_for_merged_rows(scripted: ScriptedServer, kind: str, tmp_path: Any) -> None:
    scripted.on("/v1/batches/b1/results.jsonl", (200, {}, b'{"custom_id": "a"}\n'))
    call(kind, scripted.url, "download_results_jsonl", "b1", tmp_path / "out.jsonl", merged=True)
    assert scripted.seen[-1][1] == "/v1/batches/b1/results.jsonl?merged=true"
    call(kind, scripted.url, "download_results_jsonl", "b1", tmp_path / "plain.jsonl")
    assert scripted.seen[-1][1] == "/v1/batches/b1/results.jsonl"
    scripted.on("/v1/batches/b1/results", (200, {}, {"batch_id": "b1", "status": "completed", "results": []}))
    call(kind, scripted.url, "get_results", "b1", merged=True)
    assert scripted.seen[-1][1] == "/v1/batches/b1/results?merged=true"


@pytest.mark.parametrize("kind", KINDS)
def test_headers_and_body_on_the_wire(scripted: ScriptedServer, kind: str) -> None:
    scripted.on("/v1/batches", (201, {}, BATCH))
    rows = [{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "input": "hi"}}]
    call(kind, scripted.url, "submit_batch", requests=rows)
    method, _, headers, body = scripted.seen[-1]
    assert method == "POST"
    assert headers["authorization"] == "Bearer sk_test"
    assert headers["user-agent"].startswith("sference-sdk/")
    assert json.loads(body) == {
        "window": "24h",
        "requests": [{"custom_id": "a", "body": {"model": "m", "input": "hi"}}],
    }


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_server_names_the_url(kind: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ConnectionFailed) as caught:
        call(kind, url, "get_me")
    assert caught.value.url == f"{url}/v1/auth/me"


def test_the_client_refuses_other_windows_and_empty_batches() -> None:
    with SferenceClient(base_url="http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match="24h"):
            client.submit_batch(requests=[{"custom_id": "a", "body": {}}], window="1h")
        with pytest.raises(ValueError, match="At least one request"):
            client.submit_batch(requests=[])


def call_with(kind: str, url: str, method: str, client_args: dict[str, Any], **kwargs: Any) -> Any:
    """Like ``call``, with constructor arguments."""
    if kind == "sync":
        with SferenceClient(base_url=url, api_key="sk_test", **client_args) as client:
            return getattr(client, method)(**kwargs)

    async def run() -> Any:
        async with AsyncSferenceClient(base_url=url, api_key="sk_test", **client_args) as client:
            return await getattr(client, method)(**kwargs)

    return asyncio.run(run())


RESPONSE = {
    "id": "r1",
    "object": "response",
    "created_at": 1_790_000_000,
    "model": "m",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "msg_r1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
        }
    ],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("client_args", "sent"),
    [
        ({}, API_VERSION),
        ({"api_version": "2025-10-01"}, "2025-10-01"),
        ({"api_version": "LATEST"}, "latest"),
        ({"api_version": None}, None),
    ],
)
def test_the_api_version_header(
    scripted: ScriptedServer, kind: str, client_args: dict[str, Any], sent: str | None
) -> None:
    scripted.on("/v1/auth/me", (200, {"sference-version": "2026-11-01"}, {"username": "ann"}))
    call_with(kind, scripted.url, "get_me", client_args)
    headers = {k.lower(): v for k, v in scripted.seen[-1][2].items()}
    assert headers.get("sference-version") == sent


def test_api_version_is_a_date_or_latest() -> None:
    assert API_VERSION == "2026-11-01"
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        SferenceClient(base_url="http://127.0.0.1:9", api_version="v2")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("background", "extra"), [(False, {}), (True, {"background": True})])
def test_create_response_sends_background_only_when_true(
    scripted: ScriptedServer, kind: str, background: bool, extra: dict[str, Any]
) -> None:
    scripted.on("/v1/responses", (200, {}, RESPONSE))
    answer = call_with(kind, scripted.url, "create_response", {}, model="m", input="hi", background=background)
    assert answer.output_text == "hi" and answer.is_terminal
    assert json.loads(scripted.seen[-1][3]) == {"model": "m", "input": "hi", **extra}


@pytest.mark.parametrize("kind", KINDS)
def test_a_blocking_response_past_the_server_limit_is_a_504_and_not_sent_again(
    scripted: ScriptedServer, kind: str
) -> None:
    body = {"status_code": 504, "detail": "the response did not finish in 600 s; it was cancelled", "extra": None}
    scripted.on("/v1/responses", (504, {}, body))
    with pytest.raises(ServerError) as caught:
        call_with(kind, scripted.url, "create_response", {"max_retries": 2}, model="m", input="hi")
    assert caught.value.status_code == 504 and str(caught.value).startswith("504: ")
    assert scripted.hits("/v1/responses") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_embeddings_decisions_and_models_on_the_wire(scripted: ScriptedServer, kind: str) -> None:
    vector = [0.25, -0.5]
    encoded = base64.b64encode(struct.pack("<2f", *vector)).decode()
    scripted.on(
        "/v1/embeddings",
        (
            200,
            {},
            {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": encoded}], "model": "e"},
        ),
    )
    scripted.on(
        "/v1/decisions",
        (200, {}, {"model": "d", "answers": {"spam": {"type": "noul", "noul": 0.1}}, "usage": {"input_tokens": 9}}),
    )
    scripted.on("/v1/models", (200, {}, {"object": "list", "data": [{"id": "e", "modality": "text_embedding"}]}))

    embeddings = call_with(
        kind, scripted.url, "create_embeddings", {}, model="e", input=["a"], encoding_format="base64", dimensions=2
    )
    assert embeddings.vectors() == [vector]
    assert json.loads(scripted.seen[-1][3]) == {
        "model": "e",
        "input": ["a"],
        "encoding_format": "base64",
        "dimensions": 2,
    }
    call_with(kind, scripted.url, "create_embeddings", {}, model="e", input="a")
    assert json.loads(scripted.seen[-1][3]) == {"model": "e", "input": "a", "encoding_format": "float"}

    decision = call_with(
        kind,
        scripted.url,
        "create_decision",
        {},
        model="d",
        state="buy now!!!",
        questions={"spam": NoulQuestion(instructions="Is it spam?"), "tone": {"type": "choice", "criteria": {"a": 1}}},
    )
    assert decision.answers["spam"].noul == 0.1
    assert json.loads(scripted.seen[-1][3]) == {
        "model": "d",
        "state": "buy now!!!",
        "questions": {
            "spam": {"type": "noul", "instructions": "Is it spam?", "criteria": None},
            "tone": {"type": "choice", "criteria": {"a": 1}},
        },
    }
    call_with(kind, scripted.url, "create_decision", {}, model="d", state={"k": 1}, questions={}, images=["data:x"])
    assert json.loads(scripted.seen[-1][3])["images"] == ["data:x"]

    models = call_with(kind, scripted.url, "list_models", {})
    assert [m.id for m in models.data] == ["e"]
    assert scripted.seen[-1][0] == "GET"


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_that_takes_the_request_but_never_answers_is_an_answer_timeout(kind: str) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()  # connections complete in the backlog; nothing ever answers
        url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        with pytest.raises(AnswerTimeout) as caught:
            call_with(kind, url, "create_embeddings", {"max_retries": 0}, model="e", input="a", timeout=0.2)
    assert isinstance(caught.value, ConnectionFailed) and caught.value.url == f"{url}/v1/embeddings"
    assert str(caught.value).startswith(f"no answer from {url}/v1/embeddings in time")


@pytest.mark.parametrize("kind", KINDS)
def test_require_feasible_on_the_wire_and_the_estimate_back(
    scripted: ScriptedServer, kind: str, tmp_path: Path
) -> None:
    estimate = "2026-01-01T03:00:00+00:00"
    scripted.on("/v1/batches", (201, {}, {**BATCH, "estimated_completion_at": estimate, "feasible": True}))
    rows = [{"custom_id": "a", "body": {"model": "m", "input": "hi"}}]
    batch = call(kind, scripted.url, "submit_batch", requests=rows, require_feasible=True)
    assert batch.feasible is True and batch.estimated_completion_at == estimate
    assert json.loads(scripted.seen[-1][3]) == {"window": "24h", "require_feasible": True, "requests": rows}
    for require in (True, False):  # a file's document too; the key only when asked (older servers)
        source = tmp_path / "in.jsonl"
        source.write_text(json.dumps(rows[0]) + "\n")
        sent = json.loads(b"".join(FileDocument(source, None, "24h", require).chunks()))
        assert sent == {"window": "24h", **({"require_feasible": True} if require else {}), "requests": rows}
