"""Tool calls as each surface renders them: chat completions (whole and streamed) and Anthropic's
messages (``tool_use`` blocks, stop reasons, events)."""

from __future__ import annotations

import json
from typing import Any

from sference_server.domain.outcome import ChatOutput, Timings, ToolCall, Usage
from sference_server.domain.states import ItemStatus, Priority
from sference_server.render import anthropic
from sference_server.render.openai_chat import ChatChunks, chat_completion
from sference_server.store.records import Item

CALL = ToolCall("call_7", "weather", '{"city": "Oslo"}')


def item(text: str, finish: str, *calls: ToolCall, stop: list[str] | None = None) -> Item:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], **({"stop": stop} if stop else {})}
    output = ChatOutput(text, finish, Usage(12, 5, cached_tokens=4), Timings(10.0, 11.0), tool_calls=calls)
    return Item(
        id="0193a000-0000-7000-8000-000000000001",
        user_id="u",
        batch_id=None,
        stream_id=None,
        row_index=None,
        custom_id=None,
        model="m",
        body=json.dumps(body),
        status=ItemStatus.COMPLETED,
        priority=Priority.INTERACTIVE,
        deadline=99.0,
        attempts=1,
        created_at=9.0,
        started_at=10.0,
        completed_at=11.0,
        output=output,
        error=None,
        prompt_tokens=12,
        completion_tokens=5,
        metadata=None,
    )


def test_a_chat_completion_carries_the_calls_and_null_content() -> None:
    (choice,) = chat_completion(item("", "tool_calls", CALL))["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
        ],
    }
    with_text = chat_completion(item("Let me look.", "tool_calls", CALL))["choices"][0]["message"]
    assert with_text["content"] == "Let me look." and len(with_text["tool_calls"]) == 1
    assert "tool_calls" not in chat_completion(item("hi", "stop"))["choices"][0]["message"]


def test_streamed_chunks_send_the_calls_before_the_finish_reason() -> None:
    done = item("", "tool_calls", CALL, ToolCall("call_8", "time", "{}"))
    chunks = ChatChunks(done, include_usage=False).closing(done)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0]["tool_calls"][1] == {
        "index": 1,
        "id": "call_8",
        "type": "function",
        "function": {"name": "time", "arguments": "{}"},
    }
    assert deltas[1] == {} and chunks[1]["choices"][0]["finish_reason"] == "tool_calls"


def test_an_anthropic_message_has_tool_use_blocks_with_parsed_input() -> None:
    message = anthropic.message_object(item("Let me look.", "tool_calls", CALL, ToolCall("c2", "bad", "{oops")))
    assert message["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_7", "name": "weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "c2", "name": "bad", "input": {"_raw_arguments": "{oops"}},
    ]
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    assert message["usage"] == {
        "input_tokens": 8,
        "output_tokens": 5,
        "cache_read_input_tokens": 4,
        "cache_creation_input_tokens": 0,
    }
    assert anthropic.message_object(item("", "tool_calls", CALL))["content"][0]["type"] == "tool_use"


def test_stop_reasons() -> None:
    def reason(done: Item) -> tuple[Any, Any]:
        message = anthropic.message_object(done)
        return message["stop_reason"], message["stop_sequence"]

    assert reason(item("a", "stop")) == ("end_turn", None)
    assert reason(item("a", "length")) == ("max_tokens", None)
    assert reason(item("a", "stop", stop=["END"])) == ("stop_sequence", "END")
    assert reason(item("a", "stop", stop=["END", "FIN"])) == ("stop_sequence", None)  # which one is not known


def test_events_open_the_text_block_at_the_first_piece_and_send_calls_at_the_end() -> None:
    done = item("Let me look.", "tool_calls", CALL)
    events = anthropic.MessageEvents(done)
    sent = events.opening() + events.text("Let me") + events.closing(done)
    assert [kind for kind, _ in sent] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",  # " look.", which the pieces missed
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert sent[4][1]["delta"] == {"type": "text_delta", "text": " look."}
    assert sent[6][1] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "call_7", "name": "weather", "input": {}},
    }
    assert sent[7][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"city":"Oslo"}'}
    assert sent[9][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


def test_an_empty_answer_is_one_empty_text_block() -> None:
    done = item("", "stop")
    events = anthropic.MessageEvents(done)
    kinds = [kind for kind, _ in events.opening() + events.closing(done)]
    assert kinds == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
