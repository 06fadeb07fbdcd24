from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from sference_server.render.openai_chat import chat_completion
from sference_server.store.database import Database
from sference_server.store.items import get_item
from sference_server.store.migrate import alembic_config, is_current, upgrade
from sference_server.store.tables import items, metadata
from sference_server.timeutil import now


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
