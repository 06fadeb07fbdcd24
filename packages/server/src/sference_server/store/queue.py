"""The durable queue: every item state change is a guarded UPDATE in one transaction with the
batch counters, the usage (store/usage.py) and the completion event it implies.

Delivery contract: execution is at-least-once (an item whose worker stops heartbeating is
claimed again once its lease runs out); results are exactly-once (a terminal write only matches
``status = 'running' AND lease_owner = <this worker>``, so a second completion is refused).

Lock order, to keep PostgreSQL free of deadlocks, in every writer (claim, record, sweep, cancel):
item rows, then batch and stream rows (batches then streams, each in id order), then usage rows
(in key order), then the ``webhook_endpoints`` rows the finished items' users have (``FOR KEY
SHARE``, by store/webhooks.py ``enqueue``), then the events lock. Deleting an endpoint locks its
row (``FOR UPDATE``) and then its delivery rows, and takes nothing else. A batch cancel first moves the batch row alone
(``cancelling``, its own transaction), then cancels items in chunks that follow the order above.
PostgreSQL runs at READ COMMITTED (store/database.py), which the events feed relies on
(store/events.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Protocol

from sqlalchemy import BindParameter, ColumnElement, Row, bindparam, or_, select, update

from ..domain.outcome import ItemError, Output, Usage
from ..domain.states import (
    COUNTER_COLUMN,
    ITEM_TRANSITIONS,
    RUNNABLE_BATCH_STATUSES,
    ErrorCode,
    ItemStatus,
    Priority,
    check_transition,
)
from ..domain.webhooks import EventType
from . import webhooks
from .batches import finish_batches_if_done, mark_started
from .clock import database_now
from .database import Tx
from .events import NewEvent, append_events
from .many import ManyStatement
from .tables import batches, items, streams
from .usage import UsageTally

CHUNK = 1000
NO_USAGE = Usage(0, 0)  # an item that ends without an answer


@dataclass(frozen=True)
class ClaimedItem:
    id: str
    user_id: str
    batch_id: str | None
    stream_id: str | None
    model: str
    body: str
    attempts: int
    deadline: float
    priority: int = 1


@dataclass(frozen=True)
class Outcome:
    """What a worker learned about one item it holds.

    ``status`` is a terminal status, or ``queued`` to put the item back (transient error), in
    which case ``not_before`` says when it may run again.
    """

    item_id: str
    status: ItemStatus
    output: Output | None = None
    error: ItemError | None = None
    not_before: float = 0.0
    refund_attempt: bool = False  # a graceful hand-back: the attempt does not count

    @property
    def usage(self) -> Usage:
        return self.output.usage if self.output else NO_USAGE


@dataclass(frozen=True)
class Scope:
    """What a cancel applies to: one batch, one stream, or one item."""

    batch_id: str | None = None
    stream_id: str | None = None
    item_id: str | None = None

    def condition(self) -> ColumnElement[bool]:
        if self.batch_id is not None:
            return items.c.batch_id == self.batch_id
        if self.stream_id is not None:
            return items.c.stream_id == self.stream_id
        if self.item_id is not None:
            return items.c.id == self.item_id
        raise ValueError("an empty cancel scope")


class _Owned(Protocol):
    """A returned item row: the batch or stream it counts towards (either may be None)."""

    batch_id: str | None
    stream_id: str | None


class _Finished(_Owned, Protocol):
    """A returned row of an item that finished: also whose usage it is, and of which model."""

    user_id: str
    model: str


@dataclass
class _Deltas:
    """Counter changes per batch and per stream, applied in one UPDATE per row, batches first
    and each in id order (the lock order); then the usage of the items that finished."""

    batches: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    streams: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    usage: UsageTally = field(default_factory=UsageTally)
    webhook_streams: set[str] = field(default_factory=set)
    # Items ended here rather than by a worker's outcome: (model, status, error code) -> count.
    ended: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def _owners(self, batch_id: str | None, stream_id: str | None) -> list[Counter[str]]:
        found = []
        if batch_id is not None:
            found.append(self.batches[batch_id])
        if stream_id is not None:
            found.append(self.streams[stream_id])
        return found

    def move(self, rows: Iterable[_Owned], old: ItemStatus, new: ItemStatus) -> None:
        """Count the items of ``rows`` moved ``old -> new`` (a move the item machine allows, or a
        bug): summed per batch and stream first, so a claim or a write of hundreds of results
        touches each counter once."""
        check_transition(ITEM_TRANSITIONS, old, new, what="an item")
        old_column, new_column = COUNTER_COLUMN[old], COUNTER_COLUMN[new]
        for (batch_id, stream_id), n in Counter((row.batch_id, row.stream_id) for row in rows).items():
            for counts in self._owners(batch_id, stream_id):
                counts[old_column] -= n
                counts[new_column] += n

    def finish(self, finished: Iterable[tuple[_Finished, ItemStatus, Usage]], now: float) -> None:
        """Count the tokens and the usage of items that finished (each after its ``move``), summed
        per batch, stream, user, model and status first."""
        sums: dict[tuple[str | None, str | None, str, str, ItemStatus], list[int]] = {}
        for row, status, usage in finished:
            key = (row.batch_id, row.stream_id, row.user_id, row.model, status)
            total = sums.get(key)
            if total is None:
                total = sums[key] = [0, 0, 0, 0, 0]
            total[0] += 1
            if usage is not NO_USAGE:
                total[1] += usage.prompt_tokens
                total[2] += usage.completion_tokens
                total[3] += usage.cached_tokens
                total[4] += usage.reasoning_tokens
        for (batch_id, stream_id, user_id, model, status), (count, *tokens) in sums.items():
            usage = Usage(*tokens)
            for counts in self._owners(batch_id, stream_id):
                counts["prompt_tokens"] += usage.prompt_tokens
                counts["completion_tokens"] += usage.completion_tokens
                counts["cached_tokens"] += usage.cached_tokens
                counts["reasoning_tokens"] += usage.reasoning_tokens
            self.usage.add(user_id, model, status, usage, now, count=count)

    def apply(self, conn: Tx, now: float, *, started: bool = False) -> list[str]:
        """Write the changes; return the ids of the batches touched. The streams that asked for
        ``response.completed`` webhooks are left in ``webhook_streams`` (read by the same UPDATE)."""
        for table, groups in ((batches, self.batches), (streams, self.streams)):
            for group_id in sorted(groups):
                changes = {column: delta for column, delta in groups[group_id].items() if delta}
                statement = _add_to_counters(table.name, tuple(sorted(changes)))
                parameters = {"group_id": group_id, "updated_at": now}
                parameters.update((f"add_{column}", delta) for column, delta in changes.items())
                if table is streams:
                    if conn.execute(statement, parameters).scalar():
                        self.webhook_streams.add(group_id)
                else:
                    conn.execute(statement, parameters)
        if started:
            mark_started(conn, self.batches, now=now)
        self.usage.apply(conn)
        return sorted(self.batches)


def runnable() -> list[ColumnElement[bool]]:
    """Conditions an item must meet to be claimed beyond being queued: its batch (if any) is
    neither cancelling nor finished and its stream (if any) was not cancelled. A cancel that
    races a retry or a lease reclaim may leave a queued item behind; it is never run, and the
    sweep cancels it."""
    batch_runnable = (
        select(batches.c.id)
        .where(batches.c.id == items.c.batch_id, batches.c.status.in_(RUNNABLE_BATCH_STATUSES))
        .exists()
    )
    stream_open = (
        select(streams.c.id).where(streams.c.id == items.c.stream_id, streams.c.cancelled_at.is_(None)).exists()
    )
    return [
        or_(items.c.batch_id.is_(None), batch_runnable),
        or_(items.c.stream_id.is_(None), stream_open),
    ]


URGENT_SECONDS = 1800.0  # an item this close to its deadline goes ahead of the fair order


def claim(
    conn: Tx,
    *,
    worker_id: str,
    models: Sequence[str],
    limit: int,
    lease_seconds: float,
    now: float,
    max_priority: int | None = None,
    urgent_seconds: float = URGENT_SECONDS,
) -> list[ClaimedItem]:
    """Lease up to ``limit`` queued items of ``models`` (only priorities up to ``max_priority``,
    when given), lowest priority first: within one, the items whose deadline is less than
    ``urgent_seconds`` away earliest deadline first, then the rest in fair order, users
    interleaved (store/fairness.py). The lease runs out ``lease_seconds`` after now on the
    database's clock."""
    if limit <= 0 or not models:
        return []
    params: dict[str, Any] = {
        "models": list(models),
        "now": now,
        "worker_id": worker_id,
        "lease_seconds": lease_seconds,
        "max_priority": max(Priority) if max_priority is None else max_priority,
        "priorities": [int(p) for p in Priority if max_priority is None or p <= max_priority],
        "urgent_before": now + urgent_seconds,
    }
    dialect = conn.dialect.name
    urgent = list(conn.execute(_lease_statement(dialect, urgent=True), {**params, "limit": limit}))
    fair: list[Row[Any]] = []
    if limit > len(urgent):
        fair = list(conn.execute(_lease_statement(dialect, urgent=False), {**params, "limit": limit - len(urgent)}))
    rows = urgent + fair
    deltas = _Deltas()
    deltas.move(rows, ItemStatus.QUEUED, ItemStatus.RUNNING)
    deltas.apply(conn, now, started=True)
    claimed = [ClaimedItem(*row) for row in rows]  # the statement returns the fields in order
    claimed.sort(key=lambda c: c.id)
    return claimed


@cache
def _lease_statement(dialect: str, *, urgent: bool) -> Any:
    """The UPDATE that leases the first ``:limit`` ready items of ``:priorities``: the urgent ones
    (deadline before ``:urgent_before``) earliest deadline first, or all ready ones in fair
    order. Built once per shape and dialect (building it per claim cost more than running it).

    How the priorities are stated picks the index, on SQLite at least (measured with 700,000
    queued, bench/big_batch.py): the urgent pick names them (``priority IN (...)``), so it seeks
    each priority's deadline range in ``ix_items_claim`` (left open, it walked every queued item of
    the model: 35 ms a claim, now 0.1 ms); the fair pick bounds them (``priority <= ...``), so it
    reads ``ix_items_fair`` in order (named, SQLite sorted the whole queue: 500 ms)."""
    where = [
        items.c.status == ItemStatus.QUEUED,
        items.c.model.in_(bindparam("models", expanding=True)),
        items.c.not_before <= bindparam("now"),
        items.c.deadline > bindparam("now"),
        *runnable(),
    ]
    if urgent:
        where.append(items.c.priority.in_(bindparam("priorities", expanding=True)))
        where.append(items.c.deadline < bindparam("urgent_before"))
        order: tuple[ColumnElement[Any], ...] = (items.c.priority, items.c.deadline, items.c.id)
    else:
        where.append(items.c.priority <= bindparam("max_priority"))
        order = (items.c.priority, items.c.fair_key, items.c.deadline, items.c.id)
    pick = select(items.c.id).where(*where).order_by(*order).limit(bindparam("limit"))
    if dialect == "postgresql":
        # Materialised, so the locked pick runs exactly once: inlined into the UPDATE, PostgreSQL
        # may rescan it after updating rows and hand out more than ``limit`` items.
        picked = pick.with_for_update(of=items, skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        target = items.c.id == picked.c.id
    else:
        target = items.c.id.in_(pick.scalar_subquery())
    return (
        update(items)
        .where(target, items.c.status == ItemStatus.QUEUED)
        .values(
            status=ItemStatus.RUNNING,
            lease_owner=bindparam("worker_id"),
            lease_expires_at=database_now(dialect) + bindparam("lease_seconds"),
            attempts=items.c.attempts + 1,
            started_at=bindparam("now"),
        )
        .returning(
            items.c.id,
            items.c.user_id,
            items.c.batch_id,
            items.c.stream_id,
            items.c.model,
            items.c.body,
            items.c.attempts,
            items.c.deadline,
            items.c.priority,
        )
    )


def has_queued(conn: Tx, models: Sequence[str]) -> bool:
    """Whether any item of ``models`` waits in the queue (including ones backing off)."""
    query = select(items.c.id).where(items.c.status == ItemStatus.QUEUED, items.c.model.in_(list(models)))
    return conn.execute(query.limit(1)).first() is not None


def extend_leases(conn: Tx, *, worker_id: str, item_ids: Iterable[str], lease_seconds: float) -> set[str]:
    """Renew the leases of ``item_ids`` (the items this worker is running) that it still holds;
    return those ids. Only items in flight are renewed: a worker restarted under the same id
    must not keep its dead predecessor's items leased forever."""
    held: set[str] = set()
    wanted = sorted(item_ids)
    for start in range(0, len(wanted), CHUNK):
        rows = conn.execute(
            update(items)
            .where(
                items.c.id.in_(wanted[start : start + CHUNK]),
                *_held_by(worker_id),
            )
            .values(lease_expires_at=database_now(conn.dialect.name) + lease_seconds)
            .returning(items.c.id)
        ).scalars()
        held.update(rows)
    return held


@lru_cache(maxsize=256)
def _add_to_counters(table_name: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE <batches|streams> SET <column> = <column> + :add_<column>, ... WHERE id =
    :group_id``, built once per table and set of columns (building it per write cost more than
    running it); the stream's one returns whether it asked for ``response.completed`` webhooks."""
    table = {"batches": batches, "streams": streams}[table_name]
    values: dict[str, Any] = {column: table.c[column] + bindparam(f"add_{column}") for column in columns}
    values["updated_at"] = bindparam("updated_at")
    statement = update(table).where(table.c.id == bindparam("group_id")).values(values)
    return statement.returning(streams.c.webhook_responses) if table is streams else statement


@dataclass(frozen=True)
class PreparedOutcomes:
    """A worker's outcomes with what their write needs that the store does not (the outputs
    serialised): made before the write transaction, so that it holds SQLite's one writer only
    for the statements."""

    worker_id: str
    now: float
    outcomes: dict[str, Outcome]  # by item id; an id given twice is written once, the first time
    finishes: dict[str, dict[str, Any]]  # by item id: the parameters of its finish (``_FINISH``)


def prepare_outcomes(outcomes: Iterable[Outcome], *, worker_id: str, now: float) -> PreparedOutcomes:
    by_id: dict[str, Outcome] = {}
    finishes: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.item_id in by_id:
            continue
        by_id[outcome.item_id] = outcome
        if outcome.status == ItemStatus.QUEUED:
            continue
        usage = outcome.usage
        finishes[outcome.item_id] = {
            "item_id": outcome.item_id,
            "worker_id": worker_id,
            "now": now,
            "new_status": outcome.status.value,
            "new_result": outcome.output.to_json() if outcome.output else None,
            "new_error": outcome.error.to_json() if outcome.error else None,
            "new_prompt_tokens": usage.prompt_tokens,
            "new_completion_tokens": usage.completion_tokens,
        }
    return PreparedOutcomes(worker_id, now, by_id, finishes)


def record_outcomes(conn: Tx, *, worker_id: str, outcomes: Sequence[Outcome], now: float) -> set[str]:
    """``record_prepared`` of ``outcomes`` prepared here."""
    return record_prepared(conn, prepare_outcomes(outcomes, worker_id=worker_id, now=now))


def record_prepared(conn: Tx, prepared: PreparedOutcomes) -> set[str]:
    """Write what the worker learned. Returns the ids whose write was accepted; an item that was
    cancelled, expired or reclaimed meanwhile is not this worker's any more and is left alone.

    Set-based: one read of which items the worker still holds (locked, in id order, on
    PostgreSQL), one ``executemany`` UPDATE for the finished ones; an item put back in the queue
    (a transient error: rare) is written on its own."""
    worker_id, now = prepared.worker_id, prepared.now
    owned = _still_held(conn, worker_id, list(prepared.outcomes))
    events: list[NewEvent] = []
    moved: dict[ItemStatus, list[Any]] = defaultdict(list)
    ended: list[tuple[Any, ItemStatus, Usage]] = []
    finishes: list[dict[str, Any]] = []
    for item_id, outcome in prepared.outcomes.items():
        row = owned.get(item_id)
        if row is None:
            continue
        moved[outcome.status].append(row)
        if outcome.status == ItemStatus.QUEUED:
            _put_back(conn, worker_id, outcome)
            continue
        ended.append((row, outcome.status, outcome.usage))
        events.append(NewEvent(item_id, row.user_id, row.batch_id, row.stream_id, outcome.status))
        finishes.append(prepared.finishes[item_id])
    _FINISH.execute(conn, finishes)
    deltas = _Deltas()
    for status, rows in moved.items():
        deltas.move(rows, ItemStatus.RUNNING, status)
    deltas.finish(ended, now)
    finish_batches_if_done(conn, deltas.apply(conn, now), now)
    if deltas.webhook_streams:
        completed = [
            webhooks.WebhookEvent(e.user_id, EventType.RESPONSE_COMPLETED, e.item_id)
            for e in events
            if e.stream_id in deltas.webhook_streams and e.status == ItemStatus.COMPLETED
        ]
        webhooks.enqueue(conn, completed, now=now)
    append_events(conn, events, now)
    return set(owned)


def _held_by(worker_id: str | BindParameter[str]) -> tuple[ColumnElement[bool], ...]:
    """The guard of every write a worker makes to an item it ran: still running under its lease
    (a cancelled, expired or reclaimed item matches nothing: results are exactly-once)."""
    return (items.c.status == ItemStatus.RUNNING, items.c.lease_owner == worker_id)


def _still_held(conn: Tx, worker_id: str, item_ids: Sequence[str]) -> dict[str, Any]:
    """Of ``item_ids``, those running under this worker's lease, by id: the rows the worker may
    still write (locked until the transaction ends, in id order, on PostgreSQL)."""
    held: dict[str, Any] = {}
    wanted = sorted(set(item_ids))
    query = _held_rows(conn.dialect.name)
    for start in range(0, len(wanted), CHUNK):
        rows = conn.execute(query, {"item_ids": wanted[start : start + CHUNK], "worker_id": worker_id})
        held.update((row.id, row) for row in rows)
    return held


@cache
def _held_rows(dialect: str) -> Any:
    """The SELECT of ``_still_held``, built once per dialect."""
    query = (
        select(items.c.id, items.c.user_id, items.c.batch_id, items.c.stream_id, items.c.model)
        .where(items.c.id.in_(bindparam("item_ids", expanding=True)), *_held_by(bindparam("worker_id")))
        .order_by(items.c.id)
    )
    return query.with_for_update(of=items) if dialect == "postgresql" else query


# The terminal write of one held item, run for many: the guard again (``_held_by``), so that a
# write never lands on an item that is not this worker's.
_FINISH = ManyStatement(
    lambda: (
        update(items)
        .where(items.c.id == bindparam("item_id"), *_held_by(bindparam("worker_id")))
        .values(
            status=bindparam("new_status"),
            lease_owner=None,
            lease_expires_at=None,
            completed_at=bindparam("now"),
            result=bindparam("new_result"),
            error=bindparam("new_error"),
            prompt_tokens=bindparam("new_prompt_tokens"),
            completion_tokens=bindparam("new_completion_tokens"),
        )
    )
)


def _put_back(conn: Tx, worker_id: str, outcome: Outcome) -> None:
    """Queue a held item again after a transient error, to run from ``outcome.not_before``."""
    values: dict[str, Any] = {
        "status": ItemStatus.QUEUED,
        "lease_owner": None,
        "lease_expires_at": None,
        "not_before": outcome.not_before,
        "error": outcome.error.to_json() if outcome.error else None,
    }
    if outcome.refund_attempt:
        values["attempts"] = items.c.attempts - 1
    conn.execute(update(items).where(items.c.id == outcome.item_id, *_held_by(worker_id)).values(**values))


def reclaim_expired_leases(
    conn: Tx, *, max_attempts: int, now: float, ended: Counter[tuple[str, str, str]] | None = None
) -> tuple[int, int]:
    """Put items whose worker vanished back in the queue, or fail them after ``max_attempts``.
    Leases are judged by the database's clock (the one they were written with).

    Returns ``(requeued, failed)``; ``ended`` gets the failed ones by (model, status, error code).
    """
    clock = database_now(conn.dialect.name)
    pick = (
        select(items.c.id, items.c.attempts)
        .where(items.c.status == ItemStatus.RUNNING, items.c.lease_expires_at < clock)
        .limit(CHUNK)
    )
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stale = conn.execute(pick).all()
    retry = [r.id for r in stale if r.attempts < max_attempts]
    give_up = [r.id for r in stale if r.attempts >= max_attempts]
    guard = (items.c.status == ItemStatus.RUNNING, items.c.lease_expires_at < clock)
    deltas = _Deltas()
    requeued = conn.execute(
        update(items)
        .where(items.c.id.in_(retry), *guard)
        .values(status=ItemStatus.QUEUED, lease_owner=None, lease_expires_at=None)
        .returning(items.c.batch_id, items.c.stream_id)
    ).all()
    deltas.move(requeued, ItemStatus.RUNNING, ItemStatus.QUEUED)
    message = f"the worker running this request stopped responding {max_attempts} times; giving up"
    failed = _terminate(
        conn,
        give_up,
        guard,
        ItemStatus.RUNNING,
        ItemStatus.FAILED,
        ItemError(ErrorCode.WORKER_LOST, message),
        deltas,
        now,
    )
    finish_batches_if_done(conn, deltas.apply(conn, now), now)
    append_events(conn, failed, now)
    if ended is not None:
        ended.update(deltas.ended)
    return len(requeued), len(failed)


def expire_overdue(conn: Tx, *, now: float, ended: Counter[tuple[str, str, str]] | None = None) -> int:
    """Queued items whose deadline passed end ``expired`` with code ``batch_expired`` (counted in
    ``ended`` by model, status and error code)."""
    ids = (
        conn.execute(
            select(items.c.id).where(items.c.status == ItemStatus.QUEUED, items.c.deadline <= now).limit(CHUNK)
        )
        .scalars()
        .all()
    )
    deltas = _Deltas()
    message = "the request did not finish within its completion window"
    expired = _terminate(
        conn,
        list(ids),
        (items.c.status == ItemStatus.QUEUED,),
        ItemStatus.QUEUED,
        ItemStatus.EXPIRED,
        ItemError(ErrorCode.BATCH_EXPIRED, message),
        deltas,
        now,
    )
    finish_batches_if_done(conn, deltas.apply(conn, now), now)
    append_events(conn, expired, now)
    if ended is not None:
        ended.update(deltas.ended)
    return len(expired)


def cancel_chunk(
    tx: Tx,
    scope: Scope,
    *,
    statuses: Sequence[ItemStatus],
    error: ItemError,
    now: float,
    after: Any = None,
    limit: int = CHUNK,
) -> tuple[int, Any]:
    """Cancel up to ``limit`` of the scope's items in ``statuses`` past the cursor ``after`` (a
    batch's row index, else an item id): keyset order, so a million-row cancel in chunks stays
    linear. Returns ``(cancelled, cursor)``; the cursor is None when nothing is left.

    Finishes a batch whose last active item it cancelled, except one being cancelled (its canceller
    marks it ``cancelled``). Lock order: items (locked as they are read, in key order), batch rows
    in id order, events."""
    key = items.c.row_index if scope.batch_id is not None else items.c.id
    query = select(items.c.id, items.c.status, key.label("key")).where(scope.condition(), items.c.status.in_(statuses))
    if after is not None:
        query = query.where(key > after)
    # Locked as read: a claim or a result committed meanwhile is waited for and its status seen,
    # rather than updating nothing because the row left the status it was read in.
    rows = tx.execute(query.order_by(key).limit(limit).with_for_update()).all()
    events: list[NewEvent] = []
    deltas = _Deltas()
    by_status: dict[ItemStatus, list[str]] = defaultdict(list)
    for row in rows:
        by_status[ItemStatus(row.status)].append(row.id)
    for old, ids in by_status.items():
        events += _terminate(tx, ids, (items.c.status == old,), old, ItemStatus.CANCELLED, error, deltas, now)
    finish_batches_if_done(tx, deltas.apply(tx, now), now)
    append_events(tx, events, now)
    return len(events), (rows[-1].key if len(rows) == limit else None)


def cancel(tx: Tx, scope: Scope, *, statuses: Sequence[ItemStatus], error: ItemError, now: float) -> int:
    """Cancel every item of ``scope`` in ``statuses`` in this one transaction (a stream's or one
    item's; a batch is cancelled chunk by chunk, services/lifecycle.py); returns how many. A
    running item's worker sees at its next heartbeat that the item is no longer its own and
    aborts the generation."""
    total, cursor = cancel_chunk(tx, scope, statuses=statuses, error=error, now=now)
    while cursor is not None:
        count, cursor = cancel_chunk(tx, scope, statuses=statuses, error=error, now=now, after=cursor)
        total += count
    return total


def _terminate(
    conn: Tx,
    ids: list[str],
    guard: Iterable[object],
    old: ItemStatus,
    new: ItemStatus,
    error: ItemError,
    deltas: _Deltas,
    now: float,
) -> list[NewEvent]:
    """Move ``ids`` (still in ``old``, per ``guard``) to the terminal ``new``; the caller applies
    ``deltas`` and then appends the returned events, keeping the lock order."""
    if not ids:
        return []
    rows = conn.execute(
        update(items)
        .where(items.c.id.in_(ids), *guard)  # type: ignore[arg-type]
        .values(status=new, error=error.to_json(), completed_at=now, lease_owner=None, lease_expires_at=None)
        .returning(items.c.id, items.c.user_id, items.c.batch_id, items.c.stream_id, items.c.model)
    ).all()
    deltas.move(rows, old, new)
    deltas.finish(((row, new, NO_USAGE) for row in rows), now)
    deltas.ended.update((row.model, new.value, error.code) for row in rows)
    return [NewEvent(r.id, r.user_id, r.batch_id, r.stream_id, new) for r in rows]
