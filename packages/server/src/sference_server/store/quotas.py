"""Per-user limits as stored (``users``), and the count the queued-items limit is checked against."""

from __future__ import annotations

from sqlalchemy import func, select, text, update

from ..domain.quotas import LIMIT_NAMES, UserLimits
from ..domain.states import BatchStatus
from .database import Tx
from .tables import batches, items, users

_LIMIT_COLUMNS = [users.c[name] for name in LIMIT_NAMES]
# The condition of the partial index ``ix_items_user_active`` (tables.py), as literal SQL: SQLite
# uses a partial index only for a query that states its condition with the same constants.
ACTIVE_CONDITION = "status IN ('queued', 'running')"


def user_limits(conn: Tx, user_id: str) -> UserLimits | None:
    """The user's own values (None each: the default); None if there is no such user."""
    row = conn.execute(select(*_LIMIT_COLUMNS).where(users.c.id == user_id)).first()
    return UserLimits(**row._mapping) if row is not None else None


def set_user_limits(conn: Tx, user_id: str, values: dict[str, int | None]) -> bool:
    """Set some of the user's limits (None: back to the default); False if there is no such user."""
    return conn.execute(update(users).where(users.c.id == user_id).values(**values)).rowcount == 1


def lock_user_limits(tx: Tx, user_id: str) -> UserLimits | None:
    """``user_limits``, with the user's row locked until the transaction ends (PostgreSQL; SQLite
    writes one transaction at a time anyway): submissions of one user are checked one at a time."""
    row = tx.execute(select(*_LIMIT_COLUMNS).where(users.c.id == user_id).with_for_update()).first()
    return UserLimits(**row._mapping) if row is not None else None


def active_item_count(conn: Tx, user_id: str) -> int:
    """The user's queued and running items (index ``ix_items_user_active``), plus every row of the
    user's batches still being written (some may be counted twice meanwhile: a limit errs on the
    safe side while another of the user's batches is ingested)."""
    query = select(func.count()).select_from(items).where(items.c.user_id == user_id, text(ACTIVE_CONDITION))
    ingesting = select(func.coalesce(func.sum(batches.c.request_count), 0)).where(
        batches.c.user_id == user_id, batches.c.status == BatchStatus.INGESTING
    )
    return int(conn.execute(query).scalar_one()) + int(conn.execute(ingesting).scalar_one())


def all_user_limits(conn: Tx) -> dict[str, UserLimits]:
    """Every user's own values, by user id."""
    rows = conn.execute(select(users.c.id, *_LIMIT_COLUMNS))
    return {row.id: UserLimits(**{name: row._mapping[name] for name in LIMIT_NAMES}) for row in rows}
