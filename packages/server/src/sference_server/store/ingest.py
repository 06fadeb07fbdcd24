"""Writing a big batch without holding the writer for long: chunks of rows, each a transaction,
into a batch that stays ``ingesting`` (invisible, nothing of it claimed) until the last one; a
failed or abandoned ingest is deleted, so no half batch is ever seen."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from ..domain.states import BATCH_TRANSITIONS, BatchStatus
from . import guards
from .database import Database, Tx
from .tables import batches, items

DISCARD_CHUNK = 5000
# An ingest that wrote nothing for this long was abandoned (its process died): the sweep deletes it.
ABANDONED_SECONDS = 300.0


def touch(tx: Tx, batch_id: str, *, now: float) -> None:
    """The ingest is alive (another chunk was written)."""
    tx.execute(update(batches).where(batches.c.id == batch_id).values(updated_at=now))


def publish(tx: Tx, batch_id: str, *, now: float) -> None:
    """The last chunk is in: the batch becomes ``pending``, visible and claimable."""
    guards.move(tx, batches, batch_id, BatchStatus.PENDING, BATCH_TRANSITIONS, what="batch", updated_at=now)


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
