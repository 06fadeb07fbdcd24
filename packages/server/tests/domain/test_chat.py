from __future__ import annotations

from typing import Any

import pytest

from sference_server.domain.chat import Limits, check_limits, normalise_chat_body
from sference_server.domain.sampling import SAMPLING_BOUNDS, Bounds
from sference_server.engines.base import ChatRequest


def normalise(body: Any) -> dict[str, Any]:
    out, errors = normalise_chat_body(body)
    assert errors == [], errors
    assert out is not None
    return out


def problems(body: Any) -> dict[str, str]:
    out, errors = normalise_chat_body(body)
    assert out is None
    return {e.field: e.message for e in errors}


def test_chat_body_passes_through() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "temperature": 0}
    assert normalise(body) == body


def test_responses_body_becomes_chat() -> None:
    out = normalise({"model": "m", "input": "What is 2+2?", "instructions": "Be brief.", "max_output_tokens": 7})
    assert out == {
        "model": "m",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        "max_tokens": 7,
    }


def test_responses_message_items_and_text_parts() -> None:
    out = normalise(
        {
            "model": "m",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
                {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
            ],
        }
    )
    assert out["messages"] == [{"role": "system", "content": "rules"}, {"role": "user", "content": "ab"}]


def test_max_completion_tokens_is_max_tokens() -> None:
    assert (
        normalise({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 3})[
            "max_tokens"
        ]
        == 3
    )


def test_ignored_fields_are_dropped_and_unknown_ones_kept() -> None:
    out = normalise(
        {
            "model": "m",
            "input": "x",
            "include_reasoning": True,
            "metadata": {"a": 1},
            "vendor_knob": 2,
        }
    )
    assert "include_reasoning" not in out and "metadata" not in out
    assert out["vendor_knob"] == 2


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"model": "m"}, "body", "non-empty messages list or Responses API input"),
        ({"model": "m", "messages": []}, "body.messages", "non-empty list"),
        ({"messages": [{"role": "user", "content": "x"}]}, "body.model", "required"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "body.messages[0].role", "one of"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "body.messages[0].content", "string"),
        ({"model": "m", "input": "x", "messages": []}, "body", "not both"),
        ({"model": "m", "input": "x", "background": True}, "body.background", "background is not supported"),
        ({"model": "m", "input": "x", "stream": True}, "body.stream", "not supported"),
        ({"model": "m", "input": "x", "temperature": 3}, "body.temperature", "<= 2"),
        ({"model": "m", "input": "x", "top_p": 0}, "body.top_p", "> 0"),
        ({"model": "m", "input": "x", "max_tokens": 0}, "body.max_tokens", ">= 1"),
        ({"model": "m", "input": "x", "max_tokens": 2.5}, "body.max_tokens", "integer"),
        ({"model": "m", "input": "x", "max_tokens": 2, "max_output_tokens": 3}, "body.max_output_tokens", "conflicts"),
        ({"model": "m", "input": "x", "n": 2}, "body.n", "n = 1"),
        ({"model": "m", "input": "x", "stop": ["a", "b", "c", "d", "e"]}, "body.stop", "at most 4"),
        ({"model": "m", "input": "x", "seed": "7"}, "body.seed", "integer"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "body.tools", "not supported"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]},
            "body.tools[0]",
            "function",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {}}],
            },
            "body.tools[0].function.name",
            "non-empty",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"},
            "body.tool_choice",
            "needs tools",
        ),
        (
            {"model": "m", "messages": [{"role": "assistant", "content": None, "tool_calls": [{"type": "function"}]}]},
            "body.messages[0].tool_calls[0]",
            "function",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x", "tool_call_id": 3}]},
            "body.messages[0].tool_call_id",
            "non-empty",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "functions": [{}]},
            "body.functions",
            "use tools",
        ),
        (
            {"model": "m", "input": "x", "response_format": {"type": "json_schema"}},
            "body.response_format.type",
            "not supported",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]},
            "body.input[0].content[0].type",
            "only text parts",
        ),
        ("just text", "body", "JSON object"),
    ],
)
def test_invalid_bodies_name_the_field(body: Any, field: str, fragment: str) -> None:
    found = problems(body)
    assert field in found, found
    assert fragment in found[field]


def test_every_problem_is_reported_at_once() -> None:
    found = problems({"messages": [], "temperature": -1, "top_p": 2})
    assert set(found) == {"body.model", "body.messages", "body.temperature", "body.top_p"}


def test_limits() -> None:
    body = normalise({"model": "m", "input": "x", "max_tokens": 100})
    assert check_limits(body, Limits(max_tokens=100)) == []
    (error,) = check_limits(body, Limits(max_tokens=99))
    assert error.field == "body.max_tokens" and "99" in error.message


WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
CALLS = [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]


def test_tools_and_tool_messages_are_kept_as_given() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": CALLS},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "rain"}]},
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": False,
    }
    out = normalise(body)
    assert out["tools"] == [WEATHER] and out["tool_choice"] == body["tool_choice"]
    assert out["parallel_tool_calls"] is False
    assert out["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": CALLS},
        {"role": "tool", "content": "rain", "tool_call_id": "c1"},
    ]
    assert ChatRequest.from_body(out).extra == {
        "tools": [WEATHER],
        "tool_choice": body["tool_choice"],
        "parallel_tool_calls": False,
    }
    (wrong,) = problems({**body, "tool_choice": {"type": "function", "function": {"name": "time"}}}).items()
    assert wrong == ("body.tool_choice.function.name", "names no tool of this request: 'time'")
    assert "parallel_tool_calls" not in normalise({"model": "m", "input": "x", "parallel_tool_calls": True})


def test_tool_calling_needs_a_model_that_supports_it() -> None:
    with_tools = normalise({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER]})
    (error,) = check_limits(with_tools, Limits(max_tokens=100))
    assert error.field == "body.tools" and "does not support tool calling" in error.message
    assert check_limits(with_tools, Limits(max_tokens=100, tools=True)) == []
    history = normalise(
        {"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": CALLS}]}
    )
    (error,) = check_limits(history, Limits(max_tokens=100), context="")
    assert error.field == "messages[1].tool_calls"


def in_bounds(bounds: Bounds) -> float | int:
    if bounds.integer:
        return 3
    return bounds.high if bounds.high is not None else 1.0


def test_every_sampling_parameter_is_checked_kept_and_handed_to_engines() -> None:
    """The one list (``SamplingParams``) drives validation, the stored body and ``ChatRequest``."""
    given = {name: in_bounds(bounds) for name, bounds in SAMPLING_BOUNDS.items()}
    body = normalise({"model": "m", "messages": [{"role": "user", "content": "hi"}], **given})
    assert {k: body[k] for k in given} == given
    request = ChatRequest.from_body(body)
    assert {name: getattr(request.sampling, name) for name in SAMPLING_BOUNDS} == given
    assert request.extra == {}


@pytest.mark.parametrize("name", list(SAMPLING_BOUNDS))
def test_a_sampling_parameter_out_of_bounds_is_refused_by_name(name: str) -> None:
    bounds = SAMPLING_BOUNDS[name]
    bad = "x" if bounds.integer and bounds.low is None else (bounds.low or 0) - 1
    found = problems({"model": "m", "messages": [{"role": "user", "content": "hi"}], name: bad})
    assert list(found) == [f"body.{name}"]
    assert repr(bad) in found[f"body.{name}"]
