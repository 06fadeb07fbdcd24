"""Direct store helpers: seed work without the API, and check the counter invariant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from sference_server.domain.outcome import ChatOutput, ItemError, Timings, Usage
from sference_server.domain.states import COUNTER_COLUMN, ItemStatus
from sference_server.ids import uuid7
from sference_server.store import batches as batch_store
from sference_server.store import items as item_store
from sference_server.store import queue
from sference_server.store.database import Database
from sference_server.store.items import NewItem
from sference_server.store.migrate import upgrade
from sference_server.store.tables import batches, completion_events, items
from sference_server.timeutil import now

from .postgres import create_database, drop_database

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def migrated_store(request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A migrated, empty store of the kind ``request.param`` names: a SQLite file in
    ``directory``, or a fresh PostgreSQL database (dropped afterwards; needs the ``pg_admin_url``
    and ``pg_template`` fixtures)."""
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'sference.db'}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
        return
    admin = request.getfixturevalue("pg_admin_url")
    url = create_database(admin, template=request.getfixturevalue("pg_template"))
    yield url
    drop_database(admin, url)


def seed_batch(
    db: Database,
    user_id: str,
    n: int,
    *,
    model: str = "m",
    deadline: float | None = None,
    contents: list[str] | None = None,
) -> tuple[str, list[str]]:
    """A pending batch of ``n`` queued items; returns (batch id, item ids in row order)."""
    created = now()
    deadline = created + 3600 if deadline is None else deadline
    batch_id = uuid7()
    ids = [uuid7() for _ in range(n)]
    with db.write() as conn:
        batch_store.insert_batch(
            conn,
            batch_store.NewBatch(
                id=batch_id,
                user_id=user_id,
                model=model,
                window="24h",
                created_at=created,
                deadline=deadline,
                request_count=n,
            ),
        )
        item_store.insert_items(
            conn,
            (
                NewItem(
                    id=item_id,
                    user_id=user_id,
                    batch_id=batch_id,
                    row_index=i,
                    custom_id=f"r{i}",
                    model=model,
                    deadline=deadline,
                    created_at=created,
                    body=json.dumps(
                        {
                            "model": model,
                            "messages": [{"role": "user", "content": contents[i] if contents else f"request {i}"}],
                        }
                    ),
                )
                for i, item_id in enumerate(ids)
            ),
        )
    return batch_id, ids


def complete_with_usage(db: Database, model: str, usages: list[Usage | None], *, at: float | None = None) -> None:
    """Claim the queued items of ``model`` and record them completed with ``usages`` (None: failed),
    as a worker would at ``at`` (default now): for token counts the echo engine does not report,
    such as cached prompt tokens, and for work finished on other days."""
    when = now() if at is None else at
    with db.write() as conn:
        claimed = queue.claim(conn, worker_id="test", models=[model], limit=len(usages), lease_seconds=60, now=when)
        outcomes = [
            queue.Outcome(c.id, ItemStatus.COMPLETED, output=ChatOutput("ok", "stop", usage, Timings(when, when)))
            if usage is not None
            else queue.Outcome(c.id, ItemStatus.FAILED, error=ItemError("invalid_request", "failed on purpose"))
            for c, usage in zip(claimed, usages, strict=True)
        ]
        queue.record_outcomes(conn, worker_id="test", outcomes=outcomes, now=when)


def batch_row(db: Database, batch_id: str) -> Any:
    with db.read() as conn:
        return conn.execute(select(batches).where(batches.c.id == batch_id)).one()


def item_rows(db: Database, batch_id: str) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(select(items).where(items.c.batch_id == batch_id).order_by(items.c.row_index)))


def events(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(select(completion_events).order_by(completion_events.c.id)))


def assert_counters_match(db: Database, batch_id: str) -> None:
    """The batch's counters equal the COUNT of its items per status; every terminal item has
    exactly one completion event."""
    with db.read() as conn:
        counts = dict(
            conn.execute(
                select(items.c.status, func.count()).where(items.c.batch_id == batch_id).group_by(items.c.status)
            ).all()
        )
        batch = conn.execute(select(batches).where(batches.c.id == batch_id)).one()
        per_item = dict(
            conn.execute(
                select(completion_events.c.item_id, func.count())
                .where(completion_events.c.batch_id == batch_id)
                .group_by(completion_events.c.item_id)
            ).all()
        )
        terminal = set(
            conn.execute(
                select(items.c.id).where(
                    items.c.batch_id == batch_id, items.c.status.notin_([ItemStatus.QUEUED, ItemStatus.RUNNING])
                )
            ).scalars()
        )
    for status in ItemStatus:
        assert getattr(batch, COUNTER_COLUMN[status]) == counts.get(status.value, 0), (status, counts)
    assert sum(counts.values()) == batch.request_count
    assert set(per_item) == terminal
    assert all(n == 1 for n in per_item.values())


@contextmanager
def statements_run(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) run on ``db`` inside the block, as sent to the driver."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def sqlite_plan(db: Database, statement: str, parameters: Any) -> str:
    """SQLite's query plan of a statement, its steps joined by " | "."""
    with db.read() as tx:
        return " | ".join(row[-1] for row in tx.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))


def waiting_on_a_lock(db: Database) -> bool:
    """Whether a session of this PostgreSQL database waits for a lock another one holds."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with db.read() as tx:
        return bool(tx.execute(query).scalar())
