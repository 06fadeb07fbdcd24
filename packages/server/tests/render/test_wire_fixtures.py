"""Every renderer, over one fixture set, byte for byte against the wire output the service sent
before results were stored in a neutral shape (``wire_fixtures.json``: the inputs, and what the
renderers of that time produced for them). Deliberate additions since, and only those: the batch
objects' ``usage`` (token totals with cached and reasoning tokens, migration 0006) and ``retry_of``
(the batch a retry re-runs, migration 0014; ``b4`` retries ``b3``), the stream objects'
``webhook_responses`` (migration 0015), and the batch and stream objects'
``estimated_completion_at`` (null here: a finished object, or no estimate). Responses are
rendered in the seed's API version, which is the one of that time (the current version's shapes
are tested in tests/api/test_versions.py).

The fixture's items say what the engine produced (``engine_result``) and when (``finished_at``);
the worker turns that into the stored outcome, and the store hands back records, as in service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sference_server.domain.states import TERMINAL_ITEM_STATUSES, ItemStatus, Priority
from sference_server.domain.versions import SEED
from sference_server.engines.base import ChatResult
from sference_server.render import openai_batches, openai_chat, openai_responses
from sference_server.render import sference as ours
from sference_server.store.queue import ClaimedItem
from sference_server.store.records import Batch, FeedEvent, FileRecord, Item, LatestCompletion, OpenAIBatch, Stream
from sference_server.worker import results

FIXTURES = json.loads((Path(__file__).parent / "wire_fixtures.json").read_text())
EXPECTED: dict[str, list[str]] = FIXTURES["expected"]


def stored_item(fixture: dict[str, Any]) -> Item:
    """The item as the store returns it once the worker recorded the engine's answer."""
    row = dict(fixture)
    row["result"] = None
    if fixture["engine_result"] is not None:
        claimed = ClaimedItem(
            id=fixture["id"],
            user_id=fixture["user_id"],
            batch_id=fixture["batch_id"],
            stream_id=fixture["stream_id"],
            model=fixture["model"],
            body=fixture["body"],
            attempts=1,
            deadline=fixture["deadline"],
            priority=fixture["priority"],
        )
        outcome = results.completed(
            claimed,
            ChatResult(**fixture["engine_result"]),
            started=fixture["started_at"],
            finished=fixture["finished_at"],
        )
        assert outcome.output is not None
        row["result"] = outcome.output.to_json()
    return Item.from_row(row)


ITEMS = [stored_item(f) for f in FIXTURES["items"]]
FINISHED = [i for i in ITEMS if i.status in TERMINAL_ITEM_STATUSES]
COMPLETED = [i for i in ITEMS if i.status == ItemStatus.COMPLETED]
BATCHES = [Batch.from_row(b) for b in FIXTURES["batches"]]
EXTRAS = FIXTURES["openai_batches"]


def events() -> list[FeedEvent]:
    return [
        FeedEvent(
            id=f"0193a000-0000-7000-8000-0000000000e{n}",
            created_at=item.completed_at or 0,
            status=item.status,
            item=item,
        )
        for n, item in enumerate(ITEMS)
        if item.status in TERMINAL_ITEM_STATUSES
    ]


def streams() -> list[tuple[Stream, LatestCompletion | None]]:
    found = []
    for fixture in FIXTURES["streams"]:
        latest = fixture["latest"]
        found.append((Stream.from_row(fixture), LatestCompletion(**latest) if latest else None))
    return found


def openai_records() -> list[OpenAIBatch]:
    return [OpenAIBatch.from_row({**b, **EXTRAS[b["id"]]}) for b in FIXTURES["batches"] if b["id"] in EXTRAS]


dump = json.dumps

RENDERED = {
    "sference.result_row": lambda: [ours.result_row(i) for i in FINISHED],
    "sference.response": lambda: [dump(ours.response(i, SEED)) for i in ITEMS],
    "sference.response_summary": lambda: [dump(ours.response_summary(i)) for i in ITEMS],
    "sference.event": lambda: [dump(ours.event(e)) for e in events()],
    "sference.batch": lambda: [dump(ours.batch(b, None)) for b in BATCHES],
    "sference.stream_summary": lambda: [dump(ours.stream_summary(s)) for s, _ in streams()],
    "sference.stream": lambda: [dump(ours.stream(s, latest, None)) for s, latest in streams()],
    "openai.response": lambda: [dump(openai_responses.response_object(i)) for i in ITEMS],
    "openai.chat_completion": lambda: [dump(openai_chat.chat_completion(i)) for i in COMPLETED],
    "openai.output_line.chat": lambda: [openai_batches.output_line(i, "/v1/chat/completions") for i in COMPLETED],
    "openai.output_line.responses": lambda: [openai_batches.output_line(i, "/v1/responses") for i in COMPLETED],
    "openai.error_line": lambda: [
        openai_batches.error_line(i)
        for i in ITEMS
        if i.status in (ItemStatus.FAILED, ItemStatus.CANCELLED, ItemStatus.EXPIRED)
    ],
    "openai.batch": lambda: [dump(openai_batches.batch_object(r)) for r in openai_records()],
    "openai.file": lambda: [dump(openai_batches.file_object(FileRecord.from_row(f))) for f in FIXTURES["files"]],
}


def test_the_fixture_covers_every_status_and_priority() -> None:
    assert {i.status for i in ITEMS} == set(ItemStatus)
    assert {i.priority for i in ITEMS} == set(Priority)
    assert {i.output.finish_reason for i in COMPLETED if i.output} == {"stop", "length"}
    assert set(RENDERED) == set(EXPECTED)


@pytest.mark.parametrize("surface", sorted(EXPECTED))
def test_renderers_send_the_same_bytes_as_before(surface: str) -> None:
    rendered = RENDERED[surface]()
    assert len(rendered) == len(EXPECTED[surface])
    for got, want in zip(rendered, EXPECTED[surface], strict=True):
        assert got == want
