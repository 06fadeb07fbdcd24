from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, update

from sference_server.ids import uuid7
from sference_server.render.openai_chat import chat_completion
from sference_server.store.database import Database
from sference_server.store.items import get_item
from sference_server.store.migrate import alembic_config, is_current, upgrade
from sference_server.store.streams import insert_stream
from sference_server.store.tables import batches, items, metadata, streams, usage_days
from sference_server.timeutil import now
from support.store import seed_batch


def test_migrations_build_exactly_the_declared_schema(db: Database) -> None:
    with db.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrade_is_idempotent(db: Database) -> None:
    assert is_current(db)
    upgrade(db)
    assert is_current(db)


def _migrate(db: Database, direction: str, revision: str) -> None:
    config = alembic_config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        getattr(command, direction)(config, revision)


def test_stored_chat_completions_become_neutral_results_and_render_as_before(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """0005: a result stored as OpenAI's chat.completion by earlier versions is rewritten to the
    neutral shape and still renders to the same bytes; the downgrade gives the old text back."""
    user, _ = make_user("ann")
    fixtures = json.loads((Path(__file__).parents[1] / "render" / "wire_fixtures.json").read_text())
    old = fixtures["expected"]["openai.chat_completion"][0]  # what the worker used to store (compact)
    completion = json.loads(old)
    item_id = completion["id"].removeprefix("chatcmpl-")
    _migrate(db, "downgrade", "0004")
    with db.write() as conn:
        conn.execute(
            items.insert(),
            [
                {
                    "id": item_id,
                    "user_id": user,
                    "model": completion["model"],
                    "body": "{}",
                    "status": "completed",
                    "deadline": now() + 60,
                    "created_at": now(),
                    "result": json.dumps(completion, separators=(",", ":")),
                }
            ],
        )
    upgrade(db)
    with db.read() as conn:
        item = get_item(conn, item_id)
        stored = conn.execute(select(items.c.result).where(items.c.id == item_id)).scalar_one()
    assert item is not None and item.output is not None
    assert json.loads(stored)["kind"] == "chat"
    assert json.dumps(chat_completion(item)) == old
    _migrate(db, "downgrade", "0004")
    with db.read() as conn:
        assert conn.execute(select(items.c.result).where(items.c.id == item_id)).scalar_one() == json.dumps(
            completion, separators=(",", ":")
        )
    upgrade(db)


def _finished(db: Database, item_id: str, usage: dict[str, int] | None, **owner: str) -> None:
    """Store a result as 0005 left it (the neutral shape, written out here)."""
    result = None
    if usage is not None:
        document = {"kind": "chat", "text": "ok", "finish_reason": "stop", "usage": usage}
        result = json.dumps({**document, "timings": {"started_at": 1.0, "finished_at": 2.0}})
    with db.write() as conn:
        conn.execute(update(items).where(items.c.id == item_id).values(status="completed", result=result, **owner))


def test_token_totals_of_existing_batches_and_streams_are_filled_in_from_their_results(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """0006: cached and reasoning token totals are summed from the results stored so far (rows
    without a result, or an older result without the counts, add nothing); the downgrade drops them."""
    user, _ = make_user("ann")
    first, (a, b, c, d) = seed_batch(db, user, 4)  # seeded by today's store, then taken back to 0005
    second, (e,) = seed_batch(db, user, 1)
    untouched, _ = seed_batch(db, user, 1)
    stream_id = uuid7()
    with db.write() as conn:
        insert_stream(conn, stream_id=stream_id, user_id=user, name="s", window="24h", now=now())
    _migrate(db, "downgrade", "0005")
    _finished(db, a, {"prompt_tokens": 100, "completion_tokens": 9, "cached_tokens": 64, "reasoning_tokens": 5})
    _finished(db, b, {"prompt_tokens": 20, "completion_tokens": 1, "cached_tokens": 16, "reasoning_tokens": 0})
    _finished(db, c, {"prompt_tokens": 7, "completion_tokens": 1})
    _finished(db, e, {"prompt_tokens": 8, "completion_tokens": 2, "cached_tokens": 8, "reasoning_tokens": 1})
    _finished(db, d, {"prompt_tokens": 5, "completion_tokens": 5, "cached_tokens": 2, "reasoning_tokens": 3},
              batch_id=None, stream_id=stream_id)  # fmt: skip
    upgrade(db)
    with db.read() as conn:
        totals = {
            row.id: (row.cached_tokens, row.reasoning_tokens)
            for table in (batches, streams)
            for row in conn.execute(select(table.c.id, table.c.cached_tokens, table.c.reasoning_tokens))
        }
    assert totals == {first: (80, 5), second: (8, 1), untouched: (0, 0), stream_id: (2, 3)}
    _migrate(db, "downgrade", "0005")
    upgrade(db)


def test_usage_of_the_items_finished_so_far_is_filled_in_per_user_model_and_utc_day(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """0013: ``usage_days`` is summed from the items that finished before it existed (the day from
    ``completed_at`` in UTC, cached and reasoning tokens from the stored result); items still queued
    add nothing; the downgrade drops the table."""
    ann, _ = make_user("ann")
    bob, _ = make_user("bob")
    _, (a, b, c, d) = seed_batch(db, ann, 4, model="m")
    _, (e, queued) = seed_batch(db, bob, 2, model="other")
    _migrate(db, "downgrade", "0012")
    day_one = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    day_two = day_one + 1  # 2026-11-01T00:00:00Z
    usage = {"prompt_tokens": 100, "completion_tokens": 9, "cached_tokens": 64, "reasoning_tokens": 5}
    finished = {
        a: ("completed", day_one, usage, 100, 9),
        b: ("completed", day_two, {"prompt_tokens": 7, "completion_tokens": 1}, 7, 1),  # before 0006's counts
        c: ("failed", day_two, None, 0, 0),
        d: ("cancelled", day_two, None, None, None),
        e: ("expired", day_one, None, None, None),
    }
    with db.write() as conn:
        for item_id, (status, at, counts, prompt, completion) in finished.items():
            result = None
            if counts is not None:
                document = {"kind": "chat", "text": "ok", "finish_reason": "stop", "usage": counts}
                result = json.dumps({**document, "timings": {"started_at": at, "finished_at": at}})
            conn.execute(
                update(items)
                .where(items.c.id == item_id)
                .values(
                    status=status, completed_at=at, result=result, prompt_tokens=prompt, completion_tokens=completion
                )
            )
    upgrade(db)
    with db.read() as conn:
        rows = {
            (row.user_id, row.day, row.model): tuple(row)[3:]
            for row in conn.execute(select(usage_days).order_by(usage_days.c.day))
        }
    assert rows == {
        # completed, failed, cancelled, expired, prompt, completion, cached, reasoning
        (ann, "2026-10-31", "m"): (1, 0, 0, 0, 100, 9, 64, 5),
        (ann, "2026-11-01", "m"): (1, 1, 1, 0, 7, 1, 0, 0),
        (bob, "2026-10-31", "other"): (0, 0, 0, 1, 0, 0, 0, 0),
    }
    assert queued not in finished
    _migrate(db, "downgrade", "0012")
    upgrade(db)
