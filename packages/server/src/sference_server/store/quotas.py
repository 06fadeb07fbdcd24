"""Per-user limits as stored (``users``), and the count the queued-items limit is checked against."""

from __future__ import annotations

from sqlalchemy import case, func, select, text, update

from ..domain.quotas import LIMIT_NAMES, UserLimits
from ..domain.states import BatchStatus
from .database import Tx
from .tables import ACTIVE_OUTSIDE_BATCHES, UNFINISHED_BATCH, batches, items, users

_LIMIT_COLUMNS = [users.c[name] for name in LIMIT_NAMES]


def user_limits(conn: Tx, user_id: str) -> UserLimits | None:
    """The user's own values (None each: the default); None if there is no such user."""
    row = conn.execute(select(*_LIMIT_COLUMNS).where(users.c.id == user_id)).first()
    return UserLimits(**row._mapping) if row is not None else None


def set_user_limits(conn: Tx, user_id: str, values: dict[str, int | None]) -> bool:
    """Set some of the user's limits (None: back to the default); False if there is no such user."""
    return conn.execute(update(users).where(users.c.id == user_id).values(**values)).rowcount == 1


def lock_user_limits(tx: Tx, user_id: str) -> UserLimits | None:
    """``user_limits``, with the user's row locked until the transaction ends (PostgreSQL; SQLite
    writes one transaction at a time anyway): submissions of one user are checked one at a time.
    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: a worker writing a row that refers to the user (its
    usage) meanwhile must not wait for the submission, which may be waiting for that worker's
    stream row (a deadlock)."""
    row = tx.execute(select(*_LIMIT_COLUMNS).where(users.c.id == user_id).with_for_update(key_share=True)).first()
    return UserLimits(**row._mapping) if row is not None else None


def active_item_count(conn: Tx, user_id: str) -> int:
    """The user's queued and running items: those outside batches (index ``ix_items_user_active``)
    and each unfinished batch's ``queued_count + running_count`` (every row of a batch still being
    written; index ``ix_batches_user_unfinished``). The batches' counters, not their rows: cheap
    when the user has a million rows queued."""
    single = select(func.count()).select_from(items).where(items.c.user_id == user_id, text(ACTIVE_OUTSIDE_BATCHES))
    in_batches = select(
        func.coalesce(
            func.sum(
                case(
                    (batches.c.status == BatchStatus.INGESTING, batches.c.request_count),
                    else_=batches.c.queued_count + batches.c.running_count,
                )
            ),
            0,
        )
    ).where(batches.c.user_id == user_id, text(UNFINISHED_BATCH))
    return int(conn.execute(single).scalar_one()) + int(conn.execute(in_batches).scalar_one())


def all_user_limits(conn: Tx) -> dict[str, UserLimits]:
    """Every user's own values, by user id."""
    rows = conn.execute(select(users.c.id, *_LIMIT_COLUMNS))
    return {row.id: UserLimits(**{name: row._mapping[name] for name in LIMIT_NAMES}) for row in rows}
