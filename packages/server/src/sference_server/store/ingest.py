"""Writing a big batch without holding the writer for long: chunks of rows, each a transaction,
into a batch that stays ``ingesting`` (invisible, nothing of it claimed) until the last one; a
failed or abandoned ingest is deleted, so no half batch is ever seen.

The rows of a big batch are written held (``tables.HELD_PRIORITY``): out of the index ranges
claims read. A queued row of an ingesting batch is never claimed either way, but a claim walking
past a million of them to find runnable work took 0.6 s, under the writer, at every claim of every
worker. Publishing releases the first ``RELEASE_CHUNK`` rows; ``release`` does the rest, a chunk
per transaction, from ``batches.held_from`` on, so a crash between two leaves a batch the sweep
finishes releasing. Releasing costs about a third of writing the rows, so a batch of up to
``HOLD_ABOVE_ROWS`` rows is written unheld: a claim walks its rows for the few seconds of the
ingest (up to about 30 ms at that size).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, select, update

from ..domain.states import BATCH_TRANSITIONS, BatchStatus, Priority
from . import guards
from .changes import WORK_CHANNEL, announce
from .database import Database, Tx
from .tables import HELD_PRIORITY, batches, items

DISCARD_CHUNK = 5000
# Batches of more rows than this are written held.
HOLD_ABOVE_ROWS = 50_000
# Rows released per transaction: about 0.1 s of SQLite's writer for 1 KB rows.
RELEASE_CHUNK = 10_000
# An ingest that wrote nothing for this long was abandoned (its process died): the sweep deletes it.
ABANDONED_SECONDS = 300.0


def touch(tx: Tx, batch_id: str, *, now: float) -> None:
    """The ingest is alive (another chunk was written)."""
    tx.execute(update(batches).where(batches.c.id == batch_id).values(updated_at=now))


def holds(count: int) -> bool:
    """Whether a batch of ``count`` rows is written held."""
    return count > HOLD_ABOVE_ROWS


def publish(tx: Tx, batch_id: str, *, now: float, held: bool) -> bool:
    """The last chunk is in: the batch becomes ``pending``, visible, and its rows (the first
    ``RELEASE_CHUNK`` of them if ``held``) claimable. Whether rows are left to ``release``."""
    held_from = 0 if held else None
    guards.move(
        tx, batches, batch_id, BatchStatus.PENDING, BATCH_TRANSITIONS, what="batch", updated_at=now, held_from=held_from
    )
    return held and _release_chunk(tx, batch_id)


def release(db: Database, batch_id: str, *, on_chunk: Callable[[], None] = lambda: None) -> None:
    """Make the rest of a published batch's rows claimable, a chunk per transaction, each announced
    to the workers (``on_chunk`` runs after each commit: this process's). Another process
    releasing the same batch takes turns with this one (each chunk starts where the last ended)."""
    more = True
    while more:
        with db.write() as tx:
            more = _release_chunk(tx, batch_id)
            announce(tx, WORK_CHANNEL)
        on_chunk()


def _release_chunk(tx: Tx, batch_id: str) -> bool:
    """Release the next ``RELEASE_CHUNK`` held rows (the items first, then the batch row: the
    queue's lock order); whether any are left."""
    row = tx.execute(select(batches.c.held_from, batches.c.request_count).where(batches.c.id == batch_id)).first()
    if row is None or row.held_from is None:
        return False
    start: int = row.held_from
    end = start + RELEASE_CHUNK
    tx.execute(
        update(items)
        .where(
            items.c.batch_id == batch_id,
            items.c.row_index >= start,
            items.c.row_index < end,
            items.c.priority == HELD_PRIORITY,
        )
        .values(priority=int(Priority.QUEUED))
    )
    left = end < int(row.request_count)
    tx.execute(
        update(batches)
        .where(batches.c.id == batch_id, batches.c.held_from == start)
        .values(held_from=end if left else None)
    )
    return left


def half_released(tx: Tx) -> list[str]:
    """Published batches with rows still held: their release was cut short (or is under way)."""
    query = select(batches.c.id).where(batches.c.held_from.is_not(None))
    return list(tx.execute(query).scalars())


def discard(db: Database, batch_id: str) -> None:
    """Delete an ingesting batch and the rows written so far, a chunk per transaction (nothing,
    if the batch was published meanwhile)."""
    while True:
        with db.write() as tx:
            status = tx.execute(select(batches.c.status).where(batches.c.id == batch_id)).scalar()
            if status != BatchStatus.INGESTING:
                return
            ids = list(
                tx.execute(select(items.c.id).where(items.c.batch_id == batch_id).limit(DISCARD_CHUNK)).scalars()
            )
            if ids:
                tx.execute(delete(items).where(items.c.id.in_(ids)))
            else:
                tx.execute(delete(batches).where(batches.c.id == batch_id, batches.c.status == BatchStatus.INGESTING))
                return


def abandoned(tx: Tx, *, now: float) -> list[str]:
    query = select(batches.c.id).where(
        batches.c.status == BatchStatus.INGESTING, batches.c.updated_at < now - ABANDONED_SECONDS
    )
    return list(tx.execute(query).scalars())
