"""Items are stored alike whether they go in by INSERT (a few) or, on PostgreSQL, by COPY (a
chunk of ``COPY_FROM_ROWS`` or more): every column, NULLs, enums and metadata included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from sference_server.domain.states import Priority
from sference_server.ids import uuid7
from sference_server.store import items as item_store
from sference_server.store.database import Database
from sference_server.store.items import COPY_FROM_ROWS, NewItem
from sference_server.store.tables import items
from sference_server.timeutil import now


def stored_as(db: Database, user_id: str, count: int, tag: str) -> list[dict[str, Any]]:
    """Insert ``count`` varied items in one call; their rows, without the ids, in order."""
    created = now()
    new = [
        NewItem(
            id=uuid7(),
            user_id=user_id,
            model="m",
            body='{"messages":[{"role":"user","content":"tab\\there, quote \\" and é"}]}',
            deadline=created + 3600.5,
            created_at=created,
            priority=Priority.INTERACTIVE if i % 3 == 0 else Priority.QUEUED,
            custom_id=None if i % 2 else f"{tag}-{i}\\n",
            metadata={"n": i, "text": "a\tb"} if i % 2 else None,
        )
        for i in range(count)
    ]
    with db.write() as tx:
        assert item_store.insert_items(tx, new) == count
    with db.read() as tx:
        rows = tx.execute(select(items).where(items.c.id.in_([n.id for n in new])).order_by(items.c.id)).all()
    return [{k: v for k, v in row._mapping.items() if k not in ("id", "created_at", "deadline")} for row in rows]


def test_a_big_chunk_is_stored_like_a_small_one(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user_id, _ = make_user("ann")
    few = stored_as(db, user_id, 6, "few")
    many = stored_as(db, user_id, COPY_FROM_ROWS + 6, "many")
    assert len(many) == COPY_FROM_ROWS + 6
    # Row for row (the fair keys go on from one insert to the next): the same values and types.
    for small, big in zip(few, many[:6], strict=True):
        ignored = ("fair_key", "custom_id")
        assert {k: v for k, v in small.items() if k not in ignored} == {
            k: v for k, v in big.items() if k not in ignored
        }
    assert [row["status"] for row in many] == ["queued"] * len(many)
    assert {row["priority"] for row in many} == {int(Priority.INTERACTIVE), int(Priority.QUEUED)}
    assert many[1]["metadata"] is not None and '"a\\tb"' in many[1]["metadata"]
    assert many[0]["metadata"] is None
    assert many[0]["custom_id"] == "many-0\\n" and many[1]["custom_id"] is None
