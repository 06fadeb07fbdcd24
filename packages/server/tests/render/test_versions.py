"""``/v1/responses`` output in each API version: the seed's flat items, and the current version's
OpenAI Responses items (reasoning summary, message, function calls; incomplete when cut)."""

from __future__ import annotations

import json

from sference_server.domain.outcome import ChatOutput, Timings, ToolCall, Usage
from sference_server.domain.states import ItemStatus, Priority
from sference_server.domain.versions import CURRENT, SEED
from sference_server.render.sference import response
from sference_server.store.records import Item

ID = "0193a000-0000-7000-8000-000000000001"


def item(output: ChatOutput) -> Item:
    return Item(
        id=ID,
        user_id="u",
        batch_id=None,
        stream_id=None,
        row_index=None,
        custom_id=None,
        model="m",
        body=json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        status=ItemStatus.COMPLETED,
        priority=Priority.QUEUED,
        deadline=100.0,
        attempts=1,
        created_at=1.0,
        started_at=2.0,
        completed_at=3.0,
        output=output,
        error=None,
        prompt_tokens=output.usage.prompt_tokens,
        completion_tokens=output.usage.completion_tokens,
        metadata=None,
    )


THOUGHT = ChatOutput(
    "Paris.", "stop", Usage(10, 7, reasoning_tokens=5), Timings(2.0, 3.0), reasoning="The capital is Paris."
)


def test_the_current_version_sends_the_reasoning_summary_then_the_message() -> None:
    rendered = response(item(THOUGHT), CURRENT)
    assert rendered["status"] == "completed" and rendered["incomplete_details"] is None
    assert rendered["output"] == [
        {"type": "reasoning", "id": f"rs_{ID}", "summary": [{"type": "summary_text", "text": "The capital is Paris."}]},
        {
            "type": "message",
            "id": f"msg_{ID}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Paris.", "annotations": []}],
        },
    ]
    assert rendered["usage"]["output_tokens_details"] == {"reasoning_tokens": 5}


def test_the_seed_version_sends_the_flat_text_only() -> None:
    rendered = response(item(THOUGHT), SEED)
    assert rendered["output"] == [{"type": "output_text", "text": "Paris."}]
    assert "incomplete_details" not in rendered and "output_tokens_details" not in rendered["usage"]


def test_function_calls_follow_the_message_and_a_cut_answer_is_incomplete() -> None:
    call = ToolCall("call_1", "weather", '{"city": "Oslo"}')
    called = response(item(ChatOutput("", "tool_calls", Usage(5, 3), Timings(2.0, 3.0), tool_calls=(call,))), CURRENT)
    assert called["output"] == [
        {
            "type": "function_call",
            "id": "fc_call_1",
            "call_id": "call_1",
            "name": "weather",
            "arguments": '{"city": "Oslo"}',
            "status": "completed",
        }
    ]
    cut = response(item(ChatOutput("Once upon", "length", Usage(5, 2), Timings(2.0, 3.0))), CURRENT)
    assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}
    assert cut["output"][0]["status"] == "incomplete"
    assert response(item(ChatOutput("Once upon", "length", Usage(5, 2), Timings(2.0, 3.0))), SEED)["status"] == (
        "completed"
    )
