"""The item table: inserting requests and reading them back (the queue's state changes are in
queue.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from itertools import batched
from typing import Any

from sqlalchemy import bindparam, insert, select

from ..domain.outcome import EmbeddingOutput
from ..domain.states import ItemStatus, Priority
from .database import Database, Tx
from .fairness import FairKeys
from .many import ManyStatement, driver_value
from .records import Item, ResultRow
from .tables import HELD_PRIORITY, items

INSERT_CHUNK = 2000


@dataclass(frozen=True)
class NewItem:
    """A request about to be queued. ``body`` is the normalised chat body as JSON text."""

    id: str
    user_id: str
    model: str
    body: str
    deadline: float
    created_at: float
    priority: Priority = Priority.QUEUED
    batch_id: str | None = None
    row_index: int | None = None
    stream_id: str | None = None
    custom_id: str | None = None
    metadata: dict[str, Any] | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "batch_id": self.batch_id,
            "stream_id": self.stream_id,
            "row_index": self.row_index,
            "custom_id": self.custom_id,
            "model": self.model,
            "body": self.body,
            "status": ItemStatus.QUEUED.value,
            "priority": int(self.priority),
            "deadline": self.deadline,
            "created_at": self.created_at,
            "metadata": json.dumps(self.metadata) if self.metadata else None,
        }


def insert_items(tx: Tx, new: Iterable[NewItem], *, held: bool = False) -> int:
    """Insert in chunks (flat memory for a million rows), each item with its place in the fair
    order (store/fairness.py); returns how many. PostgreSQL takes a big chunk by ``COPY``.
    ``held``: out of the claims' reach until released (an ingesting batch's rows: store/ingest.py)."""
    keys = FairKeys(tx)
    count, chunk = 0, []
    for item in new:
        row = item.to_row()
        row["fair_key"] = keys.next(item.user_id, item.model, item.priority, item.deadline - item.created_at)
        if held:
            row["priority"] = HELD_PRIORITY
        chunk.append(row)
        if len(chunk) >= INSERT_CHUNK:
            _insert_rows(tx, chunk)
            count, chunk = count + len(chunk), []
    if chunk:
        _insert_rows(tx, chunk)
    keys.save()
    return count + len(chunk)


# From this many rows on, PostgreSQL gets them by COPY (one stream, no statement per row).
COPY_FROM_ROWS = 100


_INSERT_COLUMNS = (*(field.name for field in fields(NewItem)), "status", "fair_key")  # NewItem.to_row + fair key
_INSERT = ManyStatement(lambda: insert(items).values({name: bindparam(name) for name in _INSERT_COLUMNS}))


def _insert_rows(tx: Tx, rows: list[dict[str, Any]]) -> None:
    if tx.dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        _INSERT.execute(tx, rows)
        return
    columns = list(rows[0])
    driver = tx.connection.driver_connection  # psycopg's connection, in this transaction
    assert driver is not None
    with driver.cursor().copy(f"COPY items ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([driver_value(row[column]) for column in columns])


def get_item(tx: Tx, item_id: str, *, user_id: str | None = None) -> Item | None:
    query = select(items).where(items.c.id == item_id)
    if user_id is not None:
        query = query.where(items.c.user_id == user_id)
    row = tx.execute(query).first()
    return Item.from_row(row) if row is not None else None


def get_items(tx: Tx, item_ids: Sequence[str]) -> dict[str, Item]:
    """The items of these ids, by id (those that exist)."""
    found: dict[str, Item] = {}
    for chunk in batched(item_ids, 500):
        for row in tx.execute(select(items).where(items.c.id.in_(chunk))):
            found[row.id] = Item.from_row(row)
    return found


def list_responses(tx: Tx, *, user_id: str, stream_id: str | None, before: str | None, limit: int) -> list[Item]:
    """Newest first: standalone responses (``stream_id`` None), or one stream's."""
    query = select(items).where(items.c.user_id == user_id, items.c.batch_id.is_(None), items.c.stream_id == stream_id)
    if before is not None:
        query = query.where(items.c.id < before)
    return [Item.from_row(r) for r in tx.execute(query.order_by(items.c.id.desc()).limit(limit))]


def iter_batch_rows(db: Database, batch_id: str, *, statuses: Sequence[ItemStatus], page: int) -> Iterator[Item]:
    """Every row of a batch in ``statuses``, in input order: one read transaction per ``page``
    rows (flat memory, and no transaction held while the caller streams them out)."""
    after = -1
    while True:
        with db.read() as tx:
            rows = batch_rows(tx, batch_id, statuses=statuses, after_index=after, limit=page)
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1].row_index
        assert last is not None, "a batch row has a row index"
        after = last


def iter_result_rows(db: Database, batch_id: str, *, statuses: Sequence[ItemStatus], page: int) -> Iterator[ResultRow]:
    """What a batch's results lines need of every row in ``statuses``, in input order: one read
    transaction per ``page`` rows, no request bodies except an embedding's."""
    params: dict[str, Any] = {"batch_id": batch_id, "after": -1, "statuses": [s.value for s in statuses], "limit": page}
    while True:
        with db.read() as tx:
            fetched = tx.execute(_results_page(), params).all()
            rows = _with_embedding_bodies(tx, [ResultRow.from_values(*values) for _, *values in fetched])
        yield from rows
        if len(rows) < page:
            return
        params["after"] = fetched[-1].row_index


_RESULT_COLUMNS = ("id", "custom_id", "model", "status", "result", "error")  # ResultRow.from_values


@cache
def _results_page() -> Any:
    """Built once: building the statement per page cost as much as reading the page."""
    return (
        select(items.c.row_index, *(items.c[name] for name in _RESULT_COLUMNS))
        .where(
            items.c.batch_id == bindparam("batch_id"),
            items.c.row_index > bindparam("after"),
            items.c.status.in_(bindparam("statuses", expanding=True)),
        )
        .order_by(items.c.row_index)
        .limit(bindparam("limit"))
    )


def _with_embedding_bodies(tx: Tx, rows: list[ResultRow]) -> list[ResultRow]:
    """The rows, those with embedding vectors carrying their request (its ``encoding_format``
    decides how the vectors are written)."""
    wanted = [row.id for row in rows if isinstance(row.output, EmbeddingOutput)]
    if not wanted:
        return rows
    bodies = dict(tx.execute(select(items.c.id, items.c.body).where(items.c.id.in_(wanted))).all())
    return [replace(row, body=bodies[row.id]) if row.id in bodies else row for row in rows]


def batch_rows(tx: Tx, batch_id: str, *, statuses: Sequence[ItemStatus], after_index: int, limit: int) -> list[Item]:
    """A batch's rows in ``statuses``, in input order after ``after_index`` (keyset pagination)."""
    return [
        Item.from_row(r)
        for r in tx.execute(
            select(items)
            .where(items.c.batch_id == batch_id, items.c.row_index > after_index, items.c.status.in_(statuses))
            .order_by(items.c.row_index)
            .limit(limit)
        )
    ]
