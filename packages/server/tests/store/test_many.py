"""``ManyStatement`` writes what ``Connection.execute`` of the same statement writes, on SQLite
and PostgreSQL: rows' values, the statement's own constants (an enum among them), NULLs, floats
given as ints; and it refuses a statement it cannot run faithfully."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import bindparam, select, update

from sference_server.domain.states import ItemStatus
from sference_server.store.database import Database
from sference_server.store.many import ManyStatement
from sference_server.store.tables import items
from support.store import seed_batch


def _finish() -> Any:
    return (
        update(items)
        .where(items.c.id == bindparam("item_id"), items.c.status == ItemStatus.QUEUED)
        .values(
            status=ItemStatus.COMPLETED,
            lease_owner=None,
            completed_at=bindparam("at"),
            result=bindparam("result"),
            prompt_tokens=bindparam("tokens"),
        )
    )


def _stored(db: Database, ids: list[str]) -> list[tuple[Any, ...]]:
    columns = (items.c.status, items.c.lease_owner, items.c.completed_at, items.c.result, items.c.prompt_tokens)
    with db.read() as tx:
        return [tuple(row) for row in tx.execute(select(*columns).where(items.c.id.in_(ids)).order_by(items.c.id))]


def test_rows_are_written_as_connection_execute_writes_them(
    db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user_id, _ = make_user("ann")
    _, ids = seed_batch(db, user_id, 8)
    values = [
        {"at": 7 if i % 2 else 7.25, "result": None if i % 3 == 0 else f'{{"n":{i},"q":"\\"é"}}', "tokens": i}
        for i in range(4)
    ]
    first, second = ([{"item_id": i} | row for i, row in zip(part, values, strict=True)] for part in (ids[:4], ids[4:]))
    with db.write() as tx:
        tx.execute(_finish(), first)
        ManyStatement(_finish).execute(tx, second)
    by_sqlalchemy, by_driver = _stored(db, ids[:4]), _stored(db, ids[4:])
    assert by_driver == by_sqlalchemy
    assert by_driver[1] == ("completed", None, 7.0, '{"n":1,"q":"\\"é"}', 1)
    assert isinstance(by_driver[1][2], float)


def test_the_guard_is_applied_to_every_row(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user_id, _ = make_user("ann")
    _, ids = seed_batch(db, user_id, 3)
    with db.write() as tx:
        tx.execute(update(items).where(items.c.id == ids[1]).values(status=ItemStatus.CANCELLED))
        ManyStatement(_finish).execute(tx, [{"item_id": i, "at": 1.0, "result": "r", "tokens": 1} for i in ids])
    assert [row[0] for row in _stored(db, ids)] == ["completed", "cancelled", "completed"]


def test_a_missing_value_is_an_error_not_a_null(db: Database, make_user: Callable[..., tuple[str, str]]) -> None:
    user_id, _ = make_user("ann")
    _, ids = seed_batch(db, user_id, 1)
    with pytest.raises(KeyError, match="tokens"), db.write() as tx:
        ManyStatement(_finish).execute(tx, [{"item_id": ids[0], "at": 1.0, "result": "r"}])


def test_an_expanding_parameter_is_refused(db: Database) -> None:
    statement = ManyStatement(
        lambda: update(items).where(items.c.id.in_(bindparam("ids", expanding=True))).values(attempts=0)
    )
    with pytest.raises(TypeError, match="expanding"), db.write() as tx:
        statement.execute(tx, [{"ids": ["a"]}])
