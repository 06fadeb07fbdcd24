"""The sference API's wire shapes: batches, results rows, responses, streams, completion events.

Shapes that differ between API versions (domain/versions.py) take the version; today that is
a response's ``output`` and ``status`` (``response``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..compact_json import compact
from ..domain.outcome import ChatOutput
from ..domain.states import BatchStatus, ItemStatus
from ..domain.versions import ApiVersion
from ..store.records import Batch, Counters, FeedEvent, Item, LatestCompletion, ResultRow, Stream
from ..timeutil import iso, unix
from .answers import answer

# How an item's status reads through /v1/responses.
RESPONSE_STATUS = {
    ItemStatus.QUEUED: "in_progress",
    ItemStatus.RUNNING: "in_progress",
    ItemStatus.COMPLETED: "completed",
    ItemStatus.FAILED: "failed",
    ItemStatus.EXPIRED: "failed",
    ItemStatus.CANCELLED: "cancelled",
}


def batch_status(batch: Batch) -> str:
    """The status the published clients know (their enum has no ``cancelling``): a batch being
    cancelled is still running until its last item is cancelled, so a client waiting for the end
    does not read its results too early."""
    if batch.status == BatchStatus.INGESTING:  # never shown (store.get_batch hides it); for safety
        return BatchStatus.PENDING.value
    if batch.status == BatchStatus.CANCELLING:
        return (BatchStatus.RUNNING if batch.started_at is not None else BatchStatus.PENDING).value
    return batch.status.value


def batch(batch: Batch, estimate: float | None) -> dict[str, Any]:
    """A batch; ``estimate``: when it should finish (services/estimates.py), None when finished
    or unknown."""
    counts = batch.counts
    return {
        "id": batch.id,
        "object": "batch",
        "status": batch_status(batch),
        "window": batch.window,
        "model": batch.model,
        "request_count": counts.request_count,
        "created_at": iso(batch.created_at),
        "updated_at": iso(batch.updated_at),
        "started_at": iso(batch.started_at),
        "completed_at": iso(batch.completed_at),
        "cancelled_at": iso(batch.cancelled_at),
        "expires_at": iso(batch.deadline),
        "estimated_completion_at": iso(estimate),
        "total_prompt_tokens": counts.prompt_tokens,
        "total_completion_tokens": counts.completion_tokens,
        "total_tokens": counts.total_tokens,
        "usage": batch_usage(counts),
        "request_counts": {
            "total": counts.request_count,
            "queued": counts.queued_count,
            "running": counts.running_count,
            "completed": counts.completed_count,
            "failed": counts.failed_count,
            "cancelled": counts.cancelled_count,
            "expired": counts.expired_count,
        },
        "error": batch.error.as_dict() if batch.error else None,
        "retry_of": batch.retry_of,
    }


def submitted_batch(batch_: Batch, estimate: float | None, feasible: bool | None) -> dict[str, Any]:
    """The answer to a submission: the batch, and whether its estimate fits the window (None:
    no estimate)."""
    return {**batch(batch_, estimate), "feasible": feasible}


def batch_usage(counts: Counters) -> dict[str, Any]:
    """A batch's token totals in the Responses ``usage`` words, with the share of prompt tokens
    served from a prefix cache (0 before any prompt token was counted)."""
    return {
        "input_tokens": counts.prompt_tokens,
        "output_tokens": counts.completion_tokens,
        "total_tokens": counts.total_tokens,
        "input_tokens_details": {"cached_tokens": counts.cached_tokens},
        "output_tokens_details": {"reasoning_tokens": counts.reasoning_tokens},
        "cached_share": counts.cached_share,
    }


SEND_ROWS = 256


def result_row(item: ResultRow) -> str:
    """One results row ``{custom_id, status, result_json, error_json}`` as JSON text; the result
    is the OpenAI chat completion the seed's clients expect (an embeddings list for an embedding
    model's rows)."""
    result = compact(answer(item)) if item.output is not None else "null"
    error = item.error.to_json() if item.error else "null"
    return (
        f'{{"custom_id":{json.dumps(item.custom_id)},"status":"{item.status.value}",'
        f'"result_json":{result},"error_json":{error}}}'
    )


def result_lines(rows: Iterator[ResultRow]) -> Iterator[bytes]:
    """``results.jsonl``: a results row a line."""
    for rendered in _in_groups(result_row(item) for item in rows):
        yield ("\n".join(rendered) + "\n").encode()


def results_document(batch: Batch, output_url: str, rows: Iterator[ResultRow] | None) -> Iterator[bytes]:
    """``GET /v1/batches/{id}/results``: the head, then the rows (None until the batch finished)."""
    head = {
        "batch_id": batch.id,
        "status": batch_status(batch),
        "output_url": output_url,
        "completed_at": iso(batch.completed_at),
    }
    prefix = json.dumps(head)[:-1]
    if rows is None:
        yield (prefix + ',"results":null}').encode()
        return
    yield (prefix + ',"results":[').encode()
    separator = ""
    for rendered in _in_groups(result_row(item) for item in rows):
        yield (separator + ",".join(rendered)).encode()
        separator = ","
    yield b"]}"


def _in_groups(lines: Iterator[str]) -> Iterator[list[str]]:
    """``SEND_ROWS`` rendered rows at a time: one write to the socket per row costs more than
    rendering the row (export 5,800 -> 26,500 rows/s, bench/big_batch.py)."""
    group: list[str] = []
    for line in lines:
        group.append(line)
        if len(group) == SEND_ROWS:
            yield group
            group = []
    if group:
        yield group


def _usage(item: Item) -> dict[str, Any] | None:
    if item.output is None:
        return None
    usage = item.output.usage
    return {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def response(item: Item, version: ApiVersion) -> dict[str, Any]:
    """An item seen through /v1/responses, its ``output`` in the version's item shape."""
    chat = item.chat_output
    status = RESPONSE_STATUS[item.status]
    document: dict[str, Any] = {
        "id": item.id,
        "object": "response",
        "created_at": unix(item.created_at),
        "completed_at": unix(item.completed_at),
        "model": item.model,
        "status": status,
        "output": [],
        "error": item.error.as_dict() if item.error and item.status != ItemStatus.COMPLETED else None,
        "usage": _usage(item),
        "metadata": item.metadata or {},
        "custom_id": item.custom_id,
        "stream_id": item.stream_id,
        "batch_id": item.batch_id,
    }
    if version.response_output == "flat":
        document["output"] = [{"type": "output_text", "text": chat.text}] if chat is not None else []
        return document
    cut = chat is not None and chat.finish_reason == "length"
    if cut:
        document["status"] = "incomplete"
    document["incomplete_details"] = {"reason": "max_output_tokens"} if cut else None
    document["output"] = _output_items(item.id, chat) if chat is not None else []
    if document["usage"] is not None and chat is not None:
        document["usage"]["output_tokens_details"] = {"reasoning_tokens": chat.usage.reasoning_tokens}
    return document


def _output_items(item_id: str, chat: ChatOutput) -> list[dict[str, Any]]:
    """OpenAI Responses output items: the reasoning (when the engine separated it), the message,
    then any function calls."""
    items: list[dict[str, Any]] = []
    if chat.reasoning:
        items.append(
            {"type": "reasoning", "id": f"rs_{item_id}", "summary": [{"type": "summary_text", "text": chat.reasoning}]}
        )
    if chat.text or not chat.tool_calls:
        items.append(
            {
                "type": "message",
                "id": f"msg_{item_id}",
                "role": "assistant",
                "status": "incomplete" if chat.finish_reason == "length" else "completed",
                "content": [{"type": "output_text", "text": chat.text, "annotations": []}],
            }
        )
    for call in chat.tool_calls:
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{call.id}",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "status": "completed",
            }
        )
    return items


def response_summary(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": "response",
        "created_at": unix(item.created_at),
        "model": item.model,
        "status": RESPONSE_STATUS[item.status],
    }


def stream_summary(stream: Stream) -> dict[str, Any]:
    return {
        "id": stream.id,
        "object": "stream",
        "name": stream.name,
        "window": stream.window,
        "status": stream.status.value,
        "created_at": iso(stream.created_at),
        "updated_at": iso(stream.updated_at),
    }


def stream(stream: Stream, latest: LatestCompletion | None, estimate: float | None) -> dict[str, Any]:
    """A stream with its counters; ``estimate``: when its queued and running requests should
    have finished (None: none left, or unknown)."""
    counts = stream.counts
    return {
        **stream_summary(stream),
        "cancelled_at": iso(stream.cancelled_at),
        "archived_at": iso(stream.archived_at),
        "total_items": counts.request_count,
        "pending_items": counts.queued_count,
        "running_items": counts.running_count,
        "completed_items": counts.completed_count,
        "failed_items": counts.failed_count + counts.expired_count,
        "cancelled_items": counts.cancelled_count,
        "expired_items": counts.expired_count,
        "completion_ratio": counts.finished / counts.request_count if counts.request_count else 0.0,
        "total_prompt_tokens": counts.prompt_tokens,
        "total_completion_tokens": counts.completion_tokens,
        "total_tokens": counts.prompt_tokens + counts.completion_tokens,
        "last_completion_at": iso(latest.created_at) if latest else None,
        "latest_completion_id": latest.id if latest else None,
        "webhook_responses": stream.webhook_responses,
        "estimated_completion_at": iso(estimate),
    }


def event(event: FeedEvent) -> dict[str, Any]:
    """A completion event (contract §2.4, ``StreamInferenceCompletionEvent``)."""
    item = event.item
    prompt, completion = item.prompt_tokens, item.completion_tokens
    return {
        "object": "response.completion",
        "completion_id": event.id,
        "response_id": item.id,
        "custom_id": item.custom_id,
        "status": event.status.value,
        "result": answer(item) if item.output is not None else None,
        "error": item.error.as_dict() if item.error and event.status != ItemStatus.COMPLETED else None,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": None if prompt is None or completion is None else prompt + completion,
        "completed_at": iso(event.created_at),
        "model": item.model,
        "batch_id": item.batch_id,
        "stream_id": item.stream_id,
    }
