"""Cancelling a big batch: the chunked cancel (store/cancels.py: keyset chunks, one transaction
each) against the naive one (one transaction that re-reads the batch from its first row for every
chunk, as sference did before), on SQLite, while a worker heartbeat renews a lease every 50 ms.

Prints each cancel's time, their ratio, and the longest a heartbeat waited during each.

    uv run python bench/cancel.py --rows 200000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sference_server.domain.outcome import BATCH_CANCELLED
from sference_server.domain.states import ACTIVE_ITEM_STATUSES
from sference_server.security.accounts import Accounts
from sference_server.store import queue
from sference_server.store.batches import begin_cancel
from sference_server.store.cancels import cancel_batch_items
from sference_server.store.database import Database
from sference_server.store.migrate import upgrade
from sference_server.timeutil import now
from support.store import seed_batch


def seed(db: Database, rows: int) -> tuple[str, str]:
    """A user, a batch of ``rows`` and one running item of another batch (the heartbeat's)."""
    user_id = Accounts(db).create_user("bench")
    seed_batch(db, user_id, 1, model="other")
    with db.write() as tx:
        (held,) = queue.claim(tx, worker_id="w", models=["other"], limit=1, lease_seconds=60, now=now())
    batch_id, _ = seed_batch(db, user_id, rows)
    return batch_id, held.id


def naive_cancel(db: Database, batch_id: str) -> None:
    """One transaction; every chunk reads from the batch's first row again."""
    with db.write() as tx:
        while queue.cancel_chunk(tx, queue.Scope(batch_id=batch_id), statuses=ACTIVE_ITEM_STATUSES,
                                 error=BATCH_CANCELLED, now=now())[0]:  # fmt: skip
            pass


def chunked_cancel(db: Database, batch_id: str) -> None:
    with db.write() as tx:
        begin_cancel(tx, batch_id, now=now())
    assert cancel_batch_items(db, batch_id)


def measure(db: Database, batch_id: str, held: str, cancel: object) -> tuple[float, float]:
    """Seconds the cancel took, and the longest a heartbeat waited meanwhile."""
    stop, waits = threading.Event(), [0.0]

    def heartbeat() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            with db.write() as tx:
                queue.extend_leases(tx, worker_id="w", item_ids=[held], lease_seconds=60)
            waits.append(time.perf_counter() - started)
            stop.wait(0.05)

    beating = threading.Thread(target=heartbeat)
    beating.start()
    started = time.perf_counter()
    cancel(db, batch_id)  # type: ignore[operator]
    took = time.perf_counter() - started
    stop.set()
    beating.join()
    return took, max(waits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    results = {}
    for name, cancel in (("naive", naive_cancel), ("chunked", chunked_cancel)):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            upgrade(db)
            batch_id, held = seed(db, args.rows)
            results[name] = measure(db, batch_id, held, cancel)
            db.dispose()
        took, wait = results[name]
        print(f"{name:8s} cancel of {args.rows:,} rows: {took:7.2f} s; longest heartbeat wait {wait * 1000:8.1f} ms")
    (naive, naive_wait), (chunked, chunked_wait) = results["naive"], results["chunked"]
    print(f"chunked is {naive / chunked:.1f}x faster; heartbeats wait {naive_wait / max(chunked_wait, 1e-9):.0f}x less")


if __name__ == "__main__":
    main()
