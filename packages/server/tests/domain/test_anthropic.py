"""Anthropic Messages bodies as chat bodies (domain/anthropic.py): what each field becomes, and
every problem named by its path."""

from __future__ import annotations

from typing import Any

import pytest

from sference_server.domain.anthropic import chat_body
from sference_server.domain.chat import Limits, check_limits, normalise_chat_body

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def translate(body: dict[str, Any]) -> dict[str, Any]:
    chat, errors = chat_body({"model": "m", "max_tokens": 100, **body})
    assert errors == [], errors
    assert chat is not None
    again, problems = normalise_chat_body(chat, context="")  # what the route then checks
    assert problems == [], problems
    assert again == chat  # already normalised: stored as it is
    return chat


def problems(body: dict[str, Any]) -> dict[str, str]:
    chat, errors = chat_body(body)
    assert chat is None
    return {e.field: e.message for e in errors}


def test_a_plain_conversation_with_a_system_prompt() -> None:
    chat = translate(
        {
            "system": [
                {"type": "text", "text": "Be ", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "brief."},
            ],
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            ],
            "stop_sequences": ["END"],
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "metadata": {"user_id": "u"},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "stream": True,
        }
    )
    assert chat == {
        "model": "m",
        "max_tokens": 100,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "ab"},
        ],
        "stop": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
    }


def test_tools_tool_use_and_tool_results() -> None:
    chat = translate(
        {
            "tools": [{"name": "weather", "description": "Weather.", "input_schema": SCHEMA, "cache_control": {}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "messages": [
                {"role": "user", "content": "weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "s"},
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Bergen"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "here:"},
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": [{"type": "text", "text": "sun"}],
                            "is_error": False,
                        },
                    ],
                },
            ],
        }
    )
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": SCHEMA, "description": "Weather."}}
    ]
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Bergen"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "rain"},  # the results right after the calls
        {"role": "tool", "tool_call_id": "toolu_2", "content": "sun"},
        {"role": "user", "content": "here:"},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "weather"}, {"type": "function", "function": {"name": "weather"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    chat = translate(
        {
            "tools": [{"name": "weather", "input_schema": SCHEMA}],
            "tool_choice": choice,
            "messages": [{"role": "user", "content": "x"}],
        }
    )
    assert chat["tool_choice"] == expected and "parallel_tool_calls" not in chat


def test_an_assistant_turn_of_only_tool_calls_has_no_text() -> None:
    chat = translate(
        {
            "tools": [{"name": "f", "input_schema": SCHEMA}],
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
            ],
        }
    )
    assert chat["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert chat["messages"][2:] == [{"role": "tool", "tool_call_id": "t", "content": ""}]


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model", "required"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens", "required"),
        ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "max_tokens", ">= 1"),
        ({"model": "m", "max_tokens": 5}, "messages", "non-empty list"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            "messages[0].role",
            "user or assistant",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 3}]},
            "messages[0].content",
            "string",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, IMAGE]}],
            },
            "messages[0].content[1]",
            "image blocks are not supported",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}],
            },
            "messages[0].content[0]",
            "document blocks",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [IMAGE]}]}
                ],
            },
            "messages[0].content[0].content[0]",
            "only text blocks",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages[0].content[0].tool_use_id",
            "id of the tool_use",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}
                ],
            },
            "messages[0].content[0].input",
            "object",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "system": 7},
            "system",
            "text blocks",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "stop_sequences": "END"},
            "stop_sequences",
            "list",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [{"name": "f"}]},
            "tools[0].input_schema",
            "required",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools[0].type",
            "server tool",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tool_choice": {"type": "some"},
            },
            "tool_choice",
            "auto",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "mcp_servers": [{"url": "u"}],
            },
            "mcp_servers",
            "not supported",
        ),
        ("text", "", "JSON object"),
    ],
)
def test_problems_name_the_field(body: Any, field: str, fragment: str) -> None:
    found = problems(body)
    assert field in found, found
    assert fragment in found[field]


def test_every_problem_is_reported_at_once() -> None:
    found = problems({"messages": [{"role": "user", "content": [IMAGE]}, {"role": "robot", "content": "x"}]})
    assert set(found) == {"model", "max_tokens", "messages[0].content[0]", "messages[1].role"}


def test_a_model_without_tool_calling_refuses_tools_by_name() -> None:
    chat = translate({"tools": [{"name": "f", "input_schema": SCHEMA}], "messages": [{"role": "user", "content": "x"}]})
    (problem,) = check_limits(chat, Limits(max_tokens=100), context="")
    assert problem.field == "tools" and "'m' does not support tool calling" in problem.message
    assert check_limits(chat, Limits(max_tokens=100, tools=True), context="") == []
