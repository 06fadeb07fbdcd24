"""Usage: requests that finished and their tokens, per user, model and UTC day (``usage_days``).

Why a rollup table and not a query over ``items``: a report over a month of a busy user would
read every item of that month (a million-row batch is a million rows to sum, and the cached and
reasoning token counts live only inside each item's result JSON), while the rollup holds one row
per user, model and day whatever the traffic. And usage is an account of what was served: it
must not change when items go away (today only an abandoned ingest deletes items, and those never
ran; a retention sweep that deletes old items would otherwise erase their usage with them).

So every statement that moves items to a terminal status (``store/queue.py``: a worker's results,
a lost worker's items failed by the sweep, expiries, cancels) tallies them here, in the same
transaction: the rollup always agrees with the items, and a result refused (an item that was no
longer the worker's) counts nowhere. A tally is one ``INSERT … ON CONFLICT DO UPDATE`` run for the
few (user, day, model) groups of the transaction, not one per item: recording a flush of results
costs one more statement. Its rows are written in key order after the batch and stream rows and
before the events lock (the lock order of store/queue.py), so concurrent writers never deadlock.

The day is the UTC date of the moment the items finished (their ``completed_at``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Executable, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from ..domain.outcome import Usage
from ..domain.states import ItemStatus
from ..domain.usage import UsageCounts
from .database import Tx
from .many import ManyStatement
from .tables import usage_days, users

# The statuses an item can finish in, each with its column (``completed_count``...).
FINISHED = (ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.CANCELLED, ItemStatus.EXPIRED)
TOKENS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")
COUNTS = (*(f"{status.value}_count" for status in FINISHED), *TOKENS)
KEY = ("user_id", "day", "model")


def utc_day(when: float) -> str:
    """The UTC date of a Unix time, as ``YYYY-MM-DD`` (how ``usage_days.day`` stores it)."""
    return datetime.fromtimestamp(when, UTC).date().isoformat()


_COLUMN = {status: index for index, status in enumerate(FINISHED)}  # a status's place in COUNTS
_TOKENS_AT = len(FINISHED)  # where the token counts start in COUNTS


@dataclass
class UsageTally:
    """What one transaction adds to ``usage_days``, per (user, day, model). Counted per item on
    the worker's record path, so kept cheap: a list of numbers per group, the day worked out once
    per distinct time (a transaction's items all finish at the same ``now``)."""

    groups: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    _days: dict[float, str] = field(default_factory=dict)

    def add(self, user_id: str, model: str, status: ItemStatus, usage: Usage, when: float, *, count: int = 1) -> None:
        """Count ``count`` items that finished ``status`` at ``when`` with ``usage`` among them."""
        day = self._days.get(when)
        if day is None:
            day = self._days[when] = utc_day(when)
        counts = self.groups.get((user_id, day, model))
        if counts is None:
            counts = self.groups[(user_id, day, model)] = [0] * len(COUNTS)
        counts[_COLUMN[status]] += count
        if usage.prompt_tokens or usage.completion_tokens:
            at = _TOKENS_AT
            counts[at] += usage.prompt_tokens
            counts[at + 1] += usage.completion_tokens
            counts[at + 2] += usage.cached_tokens
            counts[at + 3] += usage.reasoning_tokens

    def apply(self, tx: Tx) -> None:
        """One statement for every group, in key order (the lock order between writers)."""
        if not self.groups:
            return
        rows = [
            {**dict(zip(KEY, key, strict=True)), **dict(zip(COUNTS, counts, strict=True))}
            for key, counts in sorted(self.groups.items())
        ]
        _ADD[tx.dialect.name].execute(tx, rows)


# ``INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n``: the same SQL on SQLite (3.24 or
# later) and PostgreSQL, built by each dialect's own ``insert``.
def _values() -> dict[str, BindParameter[Any]]:
    return {name: bindparam(name) for name in (*KEY, *COUNTS)}


def _sums(excluded: ReadOnlyColumnCollection[str, Any]) -> dict[str, ColumnElement[Any]]:
    return {name: usage_days.c[name] + excluded[name] for name in COUNTS}


def _add_sqlite() -> Executable:
    statement = sqlite.insert(usage_days).values(_values())
    return statement.on_conflict_do_update(index_elements=list(KEY), set_=_sums(statement.excluded))


def _add_postgresql() -> Executable:
    statement = postgresql.insert(usage_days).values(_values())
    return statement.on_conflict_do_update(index_elements=list(KEY), set_=_sums(statement.excluded))


_ADD = {"sqlite": ManyStatement(_add_sqlite), "postgresql": ManyStatement(_add_postgresql)}


@dataclass(frozen=True)
class UsageDay:
    """One user's usage of one model on one UTC day."""

    day: str
    user_id: str
    username: str
    model: str
    counts: UsageCounts

    @classmethod
    def from_row(cls, row: Any) -> UsageDay:
        m = row._mapping
        return cls(
            day=m["day"],
            user_id=m["user_id"],
            username=m["username"],
            model=m["model"],
            counts=UsageCounts(
                **{f"{status.value}": int(m[f"{status.value}_count"]) for status in FINISHED},
                **{name: int(m[name]) for name in TOKENS},
            ),
        )


def usage_between(
    tx: Tx, *, since: str, until: str, user_id: str | None = None, model: str | None = None
) -> list[UsageDay]:
    """The rows of days ``since``..``until`` (inclusive, ``YYYY-MM-DD``), of one user or all
    (``user_id`` None), of one model or all; by day, then username, then model."""
    query = (
        select(usage_days, users.c.username)
        .join(users, users.c.id == usage_days.c.user_id)
        .where(usage_days.c.day >= since, usage_days.c.day <= until)
    )
    if user_id is not None:
        query = query.where(usage_days.c.user_id == user_id)
    if model is not None:
        query = query.where(usage_days.c.model == model)
    query = query.order_by(usage_days.c.day, users.c.username, usage_days.c.model)
    return [UsageDay.from_row(row) for row in tx.execute(query)]
