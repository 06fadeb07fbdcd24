"""The queue's writes alone, on SQLite: claiming items and recording their results through
store/queue.py (guards, batch counters, usage, completion events), against the bare SQL of the
same state changes run with ``sqlite3`` on a copy of the same database (the claim's UPDATE, the
results' UPDATE and the events' INSERT, nothing else).

A worker's cycle is what is timed: claim ``--flush`` items, record them, ``--rows`` items in all.
Prints microseconds an item for each and their ratio. What the service adds over the bare SQL
is what its workers spend holding SQLite's one writer.

    uv run python bench/queue_writes.py --rows 40000
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sference_server.domain.outcome import ChatOutput, Timings, Usage
from sference_server.domain.states import ItemStatus
from sference_server.ids import uuid7
from sference_server.security.accounts import Accounts
from sference_server.store import queue
from sference_server.store.database import Database
from sference_server.store.migrate import upgrade
from sference_server.timeutil import now
from support.store import seed_batch

BATCHES = 4


def seeded(folder: Path, rows: int) -> Path:
    """A migrated database holding ``BATCHES`` queued batches of ``rows`` items in all."""
    path = folder / "seed.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    user_id = Accounts(db).create_user("bench")
    for _ in range(BATCHES):
        seed_batch(db, user_id, rows // BATCHES)
    db.dispose()
    return path


def ours(path: Path, flush: int) -> tuple[float, float, int]:
    """Seconds claiming, seconds recording, items, through store/queue.py."""
    db = Database(f"sqlite:///{path}")
    claiming = recording = 0.0
    done = 0
    while True:
        started = time.perf_counter()
        with db.write() as tx:
            claimed = queue.claim(tx, worker_id="w", models=["m"], limit=flush, lease_seconds=60, now=now())
        claiming += time.perf_counter() - started
        if not claimed:
            break
        started = time.perf_counter()
        answer = ChatOutput("echo: hi", "stop", Usage(5, 3), Timings(now(), now()))
        outcomes = [queue.Outcome(c.id, ItemStatus.COMPLETED, output=answer) for c in claimed]
        prepared = queue.prepare_outcomes(outcomes, worker_id="w", now=now())
        with db.write() as tx:
            done += len(queue.record_prepared(tx, prepared))
        recording += time.perf_counter() - started
    db.dispose()
    return claiming, recording, done


CLAIM = """UPDATE items SET status = 'running', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1,
    started_at = ? WHERE id IN (SELECT id FROM items WHERE status = 'queued' AND model = 'm'
    ORDER BY priority, fair_key, deadline, id LIMIT ?) RETURNING id, user_id, batch_id, body"""
FINISH = """UPDATE items SET status = 'completed', result = ?, completed_at = ?, lease_owner = NULL,
    lease_expires_at = NULL WHERE id = ? AND status = 'running' AND lease_owner = ?"""
EVENT = """INSERT INTO completion_events (id, item_id, user_id, batch_id, stream_id, status, created_at)
    VALUES (?, ?, ?, ?, NULL, 'completed', ?)"""


def bare(path: Path, flush: int) -> tuple[float, float, int]:
    """The same cycle as bare SQL: no counters, usage, guards read back or JSON made per item."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    result = '{"kind":"chat","text":"echo: hi","finish_reason":"stop"}'
    claiming = recording = 0.0
    done = 0
    while True:
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        claimed = connection.execute(CLAIM, ("w", now() + 60, now(), flush)).fetchall()
        connection.execute("COMMIT")
        claiming += time.perf_counter() - started
        if not claimed:
            break
        started = time.perf_counter()
        at = now()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(FINISH, [(result, at, item_id, "w") for item_id, *_ in claimed])
        connection.executemany(EVENT, [(uuid7(), item_id, user, batch, at) for item_id, user, batch, _ in claimed])
        connection.execute("COMMIT")
        recording += time.perf_counter() - started
        done += len(claimed)
    connection.close()
    return claiming, recording, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--flush", type=int, default=256, help="items a claim takes and a write records")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        seed = seeded(Path(folder), args.rows)
        runs = {}
        for name, run in (("sference (store/queue.py)", ours), ("bare SQL (sqlite3)", bare)):
            copy = Path(folder) / f"{run.__name__}.db"
            shutil.copy(seed, copy)
            runs[name] = run(copy, args.flush)
    print(f"{args.rows:,} items in {BATCHES} batches, claimed and recorded {args.flush} at a time, SQLite")
    for name, (claiming, recording, items) in runs.items():
        print(
            f"  {name:28} claim {claiming / items * 1e6:6.1f} us/item   record {recording / items * 1e6:6.1f} us/item"
        )
    (ours_claim, ours_record, n), (bare_claim, bare_record, m) = runs.values()
    claim_ratio, record_ratio = ours_claim / n / (bare_claim / m), ours_record / n / (bare_record / m)
    print(f"  ratio sference / bare: claim {claim_ratio:.2f}, record {record_ratio:.2f}")


if __name__ == "__main__":
    main()
