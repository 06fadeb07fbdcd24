"""Anthropic's Messages API (``POST /v1/messages``), driven by the official ``anthropic`` package
over real HTTP: the echo engine for the plain paths and the errors, and an ``openai``-kind model
in front of a scripted OpenAI-compatible upstream for tool calls (which the same upstream also
shows through ``/openai/v1/chat/completions``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import Anthropic
from openai import OpenAI
from sqlalchemy import select

from sference_server.services import ApiServices
from sference_server.store.database import Database
from sference_server.store.tables import items
from support.live import ThreadServer
from support.settings import ECHO_MODEL, echo_settings
from support.upstream import ThrottlingUpstream

from .conftest import Api

WORDY = {"models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 2, "token_delay": 0.02}}]}
REMOTE = "acme/remote"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}


def client_for(api: Api, name: str = "ann") -> Anthropic:
    _, key = api._make_user(name)
    return Anthropic(base_url=api.url, api_key=key, max_retries=0)


def stored_body(api: Api) -> dict[str, Any]:
    with api.services.db.read() as tx:
        return json.loads(tx.execute(select(items.c.body)).scalar_one())  # type: ignore[no-any-return]


def test_a_message_with_a_system_prompt(api: Api) -> None:
    client = client_for(api)
    message = client.messages.create(
        model=ECHO_MODEL,
        max_tokens=50,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hello there"}]}],
        metadata={"user_id": "u-1"},
    )
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == ECHO_MODEL
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "echo: hello there"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.output_tokens == 3 and message.usage.input_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    assert stored_body(api)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
    ]


def test_a_bearer_token_and_anthropic_headers_are_accepted(api: Api) -> None:
    _, key = api._make_user("ann")
    client = Anthropic(base_url=api.url, auth_token=key, max_retries=0)
    message = client.messages.create(
        model=ECHO_MODEL,
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "some-beta-2099-01-01", "anthropic-version": "2023-06-01"},
    )
    assert message.content[0].text == "echo: hi"  # type: ignore[union-attr]


def test_max_tokens_and_stop_sequences_say_why_the_answer_stopped(api: Api) -> None:
    client = client_for(api)
    short = client.messages.create(
        model=ECHO_MODEL, max_tokens=2, messages=[{"role": "user", "content": "one two three"}]
    )
    assert short.content[0].text == "echo: one"  # type: ignore[union-attr]
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 2
    stopped = client.messages.create(
        model=ECHO_MODEL,
        max_tokens=50,
        stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "alpha beta STOP gamma"}],
    )
    assert stopped.content[0].text == "echo: alpha beta"  # type: ignore[union-attr]
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "STOP"


@pytest.mark.parametrize("server_overrides", [WORDY])
def test_a_streamed_message_sends_anthropics_events(api: Api) -> None:
    client = client_for(api)
    events = list(
        client.messages.create(
            model=ECHO_MODEL, max_tokens=50, stream=True, messages=[{"role": "user", "content": "one two three"}]
        )
    )
    kinds = [event.type for event in events]
    assert kinds[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [event.delta.text for event in events if event.type == "content_block_delta"]  # type: ignore[union-attr]
    assert deltas == ["echo:", " one", " two", " three"]
    final = events[-2]
    assert final.delta.stop_reason == "end_turn" and final.usage.output_tokens == 4  # type: ignore[union-attr]
    assert final.usage.input_tokens is not None and final.usage.input_tokens > 0  # type: ignore[union-attr]

    with client.messages.stream(
        model=ECHO_MODEL, max_tokens=3, system="terse", messages=[{"role": "user", "content": "a b c d"}]
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "echo: a b" and message.content[0].text == "echo: a b"  # type: ignore[union-attr]
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": ECHO_MODEL, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": ECHO_MODEL, "max_tokens": 5, "messages": []}, "messages"),
        ({"model": ECHO_MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        (
            {
                "model": ECHO_MODEL,
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
                        ],
                    }
                ],
            },
            "messages[0].content[1]",
        ),
        (
            {"model": ECHO_MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER]},
            "tools",
        ),
        (
            {"model": ECHO_MODEL, "max_tokens": 999_999, "messages": [{"role": "user", "content": "x"}]},
            "max_tokens",
        ),
    ],
)
def test_bad_requests_get_anthropics_error_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    _, key = api._make_user("ann")
    with api.client(key, header="x-api-key") as http:
        reply = http.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    assert reply.status_code == 400
    error = reply.json()
    assert set(error) == {"type", "error"} and error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert f"{field}: " in error["error"]["message"], error


def test_tools_on_a_model_without_tool_calling_say_so(api: Api) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        client_for(api).messages.create(
            model=ECHO_MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}], tools=[WEATHER]
        )
    assert "does not support tool calling" in refused.value.message
    assert "OpenAI-compatible upstream" in refused.value.message


def test_authentication_and_unknown_models_in_anthropics_shape(api: Api) -> None:
    body = {"model": ECHO_MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with api.client("sk-not-a-key", header="x-api-key") as http:
        reply = http.post("/v1/messages", json=body)
    assert reply.status_code == 401
    assert reply.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": reply.json()["error"]["message"]},
    }
    with pytest.raises(anthropic.AuthenticationError):
        Anthropic(base_url=api.url, api_key="sk-not-a-key", max_retries=0).messages.create(**body)  # type: ignore[arg-type]
    with pytest.raises(anthropic.NotFoundError) as missing:
        client_for(api).messages.create(**{**body, "model": "claude-nonexistent"})  # type: ignore[arg-type]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "claude-nonexistent" in missing.value.message


def test_a_body_that_is_not_json_is_refused_in_anthropics_shape(api: Api) -> None:
    _, key = api._make_user("ann")
    with api.client(key, header="x-api-key") as http:
        reply = http.post("/v1/messages", content=b"{not json", headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


# -- tool calls through an OpenAI-compatible upstream -------------------------------------------


@dataclass
class Remote:
    url: str
    key: str
    upstream: ThrottlingUpstream

    def anthropic(self) -> Anthropic:
        return Anthropic(base_url=self.url, api_key=self.key, max_retries=0)

    def openai(self) -> OpenAI:
        return OpenAI(base_url=f"{self.url}/openai/v1", api_key=self.key, max_retries=0)


@pytest.fixture
def remote(
    tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]]
) -> Iterator[Remote]:
    with ThrottlingUpstream(seconds_per_word=0.0) as upstream:
        model = {"id": REMOTE, "engine": "openai", "options": {"base_urls": [upstream.base_url]}}
        services = ApiServices.build(echo_settings(tmp_path, database_url, models=[model]), db)
        with ThreadServer(services) as server:
            _, key = make_user("ann")
            yield Remote(server.url, key, upstream)


OPENAI_WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather in a city.", "parameters": WEATHER["input_schema"]},
}


@pytest.mark.parametrize("stream", [False, True])
def test_chat_completions_render_the_upstreams_tool_calls(remote: Remote, stream: bool) -> None:
    client = remote.openai()
    question = [{"role": "user", "content": "weather in Paris"}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=REMOTE,
                messages=question,
                tools=[OPENAI_WEATHER],
                tool_choice="auto",
                stream=True,  # type: ignore[arg-type,list-item]
            )
        )
        (delta,) = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls]
        (call,) = delta.tool_calls or []
        assert call.index == 0 and call.type == "function"
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        completion = client.chat.completions.create(
            model=REMOTE,
            messages=question,
            tools=[OPENAI_WEATHER],
            tool_choice="auto",  # type: ignore[arg-type,list-item]
        )
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        (call,) = choice.message.tool_calls or []  # type: ignore[assignment]
    assert call.id == "call_1"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"text": "weather in Paris"}  # type: ignore[union-attr]
    (received,) = remote.upstream.requests
    assert received["tools"] == [OPENAI_WEATHER] and received["tool_choice"] == "auto"

    answer = client.chat.completions.create(
        model=REMOTE,
        tools=[OPENAI_WEATHER],  # type: ignore[list-item]
        messages=[
            *question,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],  # type: ignore[list-item]
    )
    assert answer.choices[0].message.content == "echo: sunny" and answer.choices[0].finish_reason == "stop"
    assert remote.upstream.requests[-1]["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_messages_turn_tool_calls_into_tool_use_and_tool_results_into_tool_messages(
    remote: Remote, stream: bool
) -> None:
    client = remote.anthropic()
    question: list[Any] = [{"role": "user", "content": "weather in Paris"}]
    request: dict[str, Any] = {
        "model": REMOTE,
        "max_tokens": 100,
        "system": "You call tools.",
        "tools": [WEATHER],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }
    if stream:
        with client.messages.stream(messages=question, **request) as events:
            kinds = [event.type for event in events]
            message = events.get_final_message()
        assert "input_json" in kinds and "text" not in kinds
    else:
        message = client.messages.create(messages=question, **request)
    assert message.stop_reason == "tool_use"
    (use,) = message.content
    assert use.type == "tool_use" and use.id == "call_1" and use.name == "get_weather"
    assert use.input == {"text": "weather in Paris"}
    (received,) = remote.upstream.requests
    assert received["messages"][0] == {"role": "system", "content": "You call tools."}
    assert received["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "The weather in a city.",
            },
        }
    ]
    assert received["tool_choice"] == "auto" and received["parallel_tool_calls"] is False

    follow_up = [
        *question,
        {"role": "assistant", "content": [block.model_dump() for block in message.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": [{"type": "text", "text": "sunny"}]},
                {"type": "text", "text": "and so?"},
            ],
        },
    ]
    answer = client.messages.create(
        messages=follow_up, **{**request, "tools": [WEATHER], "tool_choice": {"type": "none"}}
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == "echo: and so?"  # type: ignore[union-attr]
    sent = remote.upstream.requests[-1]
    assert sent["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"text":"weather in Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        {"role": "user", "content": "and so?"},
    ]
    assert sent["tool_choice"] == "none"


def test_a_streamed_tool_call_is_one_input_json_delta(remote: Remote) -> None:
    with httpx.Client(base_url=remote.url, headers={"x-api-key": remote.key}, timeout=30) as http:
        body = {
            "model": REMOTE,
            "max_tokens": 100,
            "stream": True,
            "tools": [WEATHER],
            "messages": [{"role": "user", "content": "weather in Oslo"}],
        }
        with http.stream("POST", "/v1/messages", json=body) as response:
            assert response.status_code == 200
            data = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    assert [event["type"] for event in data] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert data[2]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}
    assert json.loads(data[3]["delta"]["partial_json"]) == {"text": "weather in Oslo"}
    assert data[5]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert data[5]["usage"]["output_tokens"] == 5
