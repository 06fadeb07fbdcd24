"""``stream: true`` end to end in one process: the ``openai`` package reads chat chunks and
Responses events as the engine makes the text (echo engine, one word per token, with a delay
per word so the pieces arrive apart), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import select

from sference_server.domain.states import ItemStatus
from sference_server.services import ApiServices
from sference_server.store.database import Database
from sference_server.store.tables import items
from support.live import ThreadServer
from support.settings import ECHO_MODEL, echo_settings
from support.upstream import ThrottlingUpstream

from .conftest import Api
from .test_openai import client_for

MakeUser = Callable[..., tuple[str, str]]
WORDY = {"models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 2, "token_delay": 0.05}}]}
SENTENCE = "one two three four five six"


@pytest.mark.parametrize("server_overrides", [WORDY])
def test_chat_completion_chunks_arrive_as_the_engine_makes_them(api: Api) -> None:
    client = client_for(api)
    started = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    chunks = []
    for chunk in client.chat.completions.create(
        model=ECHO_MODEL,
        messages=[{"role": "user", "content": SENTENCE}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
    assert "".join(text for _, text in arrivals) == f"echo: {SENTENCE}"
    assert len(arrivals) == 7  # one per word, not the whole answer at the end
    assert arrivals[-1][0] - arrivals[0][0] >= 0.2  # spread over the engine's time
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    assert all(chunk.id == chunks[0].id for chunk in chunks)


@pytest.mark.parametrize("server_overrides", [WORDY])
def test_responses_stream_sends_the_event_sequence(api: Api) -> None:
    client = client_for(api)
    events = list(client.responses.create(model=ECHO_MODEL, input=SENTENCE, stream=True))
    kinds = [event.type for event in events]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert len(deltas) == 7 and "".join(deltas) == f"echo: {SENTENCE}"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "completed" and final.output_text == f"echo: {SENTENCE}"
    assert client.responses.retrieve(final.id).output_text == f"echo: {SENTENCE}"
    short = list(client.responses.create(model=ECHO_MODEL, input=SENTENCE, max_output_tokens=2, stream=True))
    assert short[-1].type == "response.incomplete"


@pytest.mark.parametrize("server_overrides", [WORDY])
def test_a_request_that_fails_before_its_first_token_gets_its_http_status(api: Api) -> None:
    client = client_for(api)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=ECHO_MODEL, messages=[{"role": "user", "content": "[[fail:permanent]]"}], stream=True
        )


@pytest.mark.parametrize("server_overrides", [WORDY])
def test_a_client_that_disconnects_mid_stream_cancels_its_request(api: Api) -> None:
    _, key = api._make_user("ann")
    long = " ".join(f"w{i}" for i in range(200))  # 10 s of answer at 50 ms a word
    body = {"model": ECHO_MODEL, "messages": [{"role": "user", "content": long}], "stream": True}
    with (
        httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        http.stream("POST", "/openai/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        while '"content":"echo:"' not in next(lines):
            pass
    deadline = time.monotonic() + 5
    while True:
        with api.services.db.read() as tx:
            status = tx.execute(select(items.c.status)).scalar_one()
        if status == ItemStatus.CANCELLED:
            break
        assert time.monotonic() < deadline, f"still {status} after the client left"
        time.sleep(0.05)


def test_a_client_that_leaves_a_stream_from_an_upstream_cancels_it_upstream(
    tmp_path: Path, database_url: str, db: Database, make_user: MakeUser
) -> None:
    with ThrottlingUpstream(seconds_per_word=0.05) as upstream:
        model = {"id": "acme/remote", "engine": "openai", "options": {"base_urls": [upstream.base_url]}}
        services = ApiServices.build(echo_settings(tmp_path, database_url, models=[model]), db)
        with ThreadServer(services) as server:
            _, key = make_user("ann")
            client = OpenAI(base_url=f"{server.url}/openai/v1", api_key=key, max_retries=0)
            long = " ".join(f"w{i}" for i in range(200))
            stream = client.chat.completions.create(
                model="acme/remote", messages=[{"role": "user", "content": long}], stream=True
            )
            pieces = [c.choices[0].delta.content for c, _ in zip(stream, range(4), strict=False) if c.choices]
            assert len(pieces) == 4  # the upstream's words, as it sends them
            stream.close()
            deadline = time.monotonic() + 5
            while upstream.disconnected == 0:
                assert time.monotonic() < deadline, "the upstream request kept running"
                time.sleep(0.05)
            assert upstream.in_flight == 0 and len(upstream.requests) == 1


SLOW_AND_IMPATIENT = {**WORDY, "interactive_timeout_seconds": 0.5}


@pytest.mark.parametrize("server_overrides", [SLOW_AND_IMPATIENT])
def test_a_blocking_request_that_outlasts_the_wait_gets_504_and_is_cancelled(api: Api) -> None:
    _, key = api._make_user("ann")
    long = " ".join(f"w{i}" for i in range(100))  # 5 s of answer at 50 ms a word
    body = {"model": ECHO_MODEL, "messages": [{"role": "user", "content": long}]}
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        reply = http.post("/openai/v1/chat/completions", json=body)
    assert reply.status_code == 504 and "did not finish within 0.5 s" in reply.text
    with api.services.db.read() as tx:
        assert tx.execute(select(items.c.status)).scalar_one() == ItemStatus.CANCELLED
