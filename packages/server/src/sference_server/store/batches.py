"""Batch rows: create, read, list, finish and cancel."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from ..domain.states import ACTIVE_BATCH_STATUSES, BatchStatus, ErrorCode, ItemStatus
from .tables import batches, items


def insert_batch(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(batches), [row])


def insert_items(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(items), list(rows))


def get_batch(conn: Connection, batch_id: str, *, user_id: str | None = None) -> Row[Any] | None:
    query = select(batches).where(batches.c.id == batch_id)
    if user_id is not None:
        query = query.where(batches.c.user_id == user_id)
    return conn.execute(query).first()


def list_batches(conn: Connection, *, user_id: str, limit: int, before: str | None = None) -> list[Row[Any]]:
    """Newest first. ``before`` is a batch id cursor (ids are time-ordered)."""
    query = select(batches).where(batches.c.user_id == user_id)
    if before is not None:
        query = query.where(batches.c.id < before)
    return list(conn.execute(query.order_by(batches.c.id.desc()).limit(limit)))


def mark_cancelled(conn: Connection, batch_id: str, *, now: float) -> bool:
    result = conn.execute(
        update(batches)
        .where(batches.c.id == batch_id, batches.c.status.in_(ACTIVE_BATCH_STATUSES))
        .values(status=BatchStatus.CANCELLED, cancelled_at=now, completed_at=now, updated_at=now)
    )
    return result.rowcount == 1


def finish_batches_if_done(conn: Connection, batch_ids: Iterable[str], now: float) -> None:
    """Give each active batch with no queued or running item left its terminal status."""
    ids = sorted(set(batch_ids))
    if not ids:
        return
    done = conn.execute(
        select(batches).where(
            batches.c.id.in_(ids),
            batches.c.status.in_(ACTIVE_BATCH_STATUSES),
            batches.c.queued_count == 0,
            batches.c.running_count == 0,
        )
    ).all()
    for batch in done:
        status, error = terminal_status(batch)
        conn.execute(
            update(batches)
            .where(batches.c.id == batch.id, batches.c.status.in_(ACTIVE_BATCH_STATUSES))
            .values(status=status, error=error, completed_at=now, updated_at=now)
        )


def terminal_status(batch: Row[Any]) -> tuple[BatchStatus, str | None]:
    """``completed`` if anything completed; otherwise ``failed`` with the reason."""
    if batch.completed_count > 0:
        return BatchStatus.COMPLETED, None
    code: str
    if batch.expired_count and not batch.failed_count:
        code, message = ErrorCode.BATCH_EXPIRED, "the completion window ended before any request finished"
    else:
        code = "all_requests_failed"
        message = f"no request completed: {batch.failed_count} failed"
        if batch.expired_count:
            message += f", {batch.expired_count} expired"
        message += "; see error_json of each result row"
    return BatchStatus.FAILED, json.dumps({"code": code, "message": message})


RESULT_STATUSES = (ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.CANCELLED, ItemStatus.EXPIRED)


def result_rows(conn: Connection, batch_id: str, *, after_index: int, limit: int) -> list[Row[Any]]:
    """Finished rows of a batch in input order, after ``after_index`` (keyset pagination)."""
    return list(
        conn.execute(
            select(items.c.row_index, items.c.custom_id, items.c.status, items.c.result, items.c.error)
            .where(
                items.c.batch_id == batch_id,
                items.c.row_index > after_index,
                items.c.status.in_(RESULT_STATUSES),
            )
            .order_by(items.c.row_index)
            .limit(limit)
        )
    )


def problem_rows(conn: Connection, batch_id: str, *, limit: int) -> list[Row[Any]]:
    """The first rows that failed or expired, in input order (for the console)."""
    return list(
        conn.execute(
            select(items.c.row_index, items.c.custom_id, items.c.status, items.c.error)
            .where(items.c.batch_id == batch_id, items.c.status.in_((ItemStatus.FAILED, ItemStatus.EXPIRED)))
            .order_by(items.c.row_index)
            .limit(limit)
        )
    )
