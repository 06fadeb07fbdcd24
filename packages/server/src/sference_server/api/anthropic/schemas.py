"""What ``POST /v1/messages`` answers: Anthropic's ``message`` (render/anthropic.py)."""

from __future__ import annotations

from typing import Any, Literal

from ..openapi import MESSAGES, SAMPLING, STRING, Wire, json_body, obj


class TextBlock(Wire):
    type: Literal["text"]
    text: str


class ToolUseBlock(Wire):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class MessageUsage(Wire):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


class Message(Wire):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[TextBlock | ToolUseBlock]
    stop_reason: str
    stop_sequence: str | None
    usage: MessageUsage


CREATE_BODY = json_body(
    obj(
        ("model", "max_tokens", "messages"),
        model=STRING,
        max_tokens=SAMPLING["max_tokens"],
        messages=MESSAGES,
        system=STRING,
        stream={"type": "boolean"},
    )
)
