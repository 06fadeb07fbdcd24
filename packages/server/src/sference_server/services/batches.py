"""Batches: create, read, list, cancel, results. No web framework in here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from sqlalchemy import Connection

from ...catalog import ModelCatalog
from ...config import Settings
from ...domain.states import ACTIVE_ITEM_STATUSES, TERMINAL_BATCH_STATUSES, BatchStatus, ErrorCode, ItemStatus
from ...domain.windows import BATCH_WINDOWS
from ...errors import Conflict, NotFound
from ...ids import uuid7
from ...notify import Signal
from ...security.principal import Principal
from ...store import batches as store
from ...store.changes import WORK_CHANNEL, announce
from ...store.database import Database
from ...store.events import append_events
from ...store.queue import cancel_items, error_json
from ...store.tables import items
from ...timeutil import now
from ..pages import newest_first
from .ingest import parse_batch
from .rows import ParsedBatch
from .schemas import batch_to_wire, result_row_json

INSERT_CHUNK = 2000
RESULTS_PAGE = 500


class BatchService:
    def __init__(
        self, db: Database, settings: Settings, catalog: ModelCatalog, work_signal: Signal, events_signal: Signal
    ) -> None:
        self.db = db
        self.settings = settings
        self.catalog = catalog
        self.work_signal = work_signal
        self.events_signal = events_signal

    def create(self, who: Principal, document: IO[bytes]) -> dict[str, Any]:
        parsed = parse_batch(document, catalog=self.catalog, max_requests=self.settings.max_batch_requests)
        try:
            return batch_to_wire(self.insert(who, parsed))
        finally:
            parsed.close()

    def insert(
        self, who: Principal, parsed: ParsedBatch, *, also: Callable[[Connection, str], None] | None = None
    ) -> Any:
        """Insert the batch and its items in one transaction (``also`` adds to it); return the
        batch row as accepted, and wake the workers."""
        batch_id = uuid7()
        accepted = now()
        deadline = accepted + BATCH_WINDOWS[parsed.window]
        with self.db.write() as conn:
            store.insert_batch(
                conn,
                {
                    "id": batch_id,
                    "user_id": who.user_id,
                    "model": parsed.model,
                    "window": parsed.window,
                    "status": BatchStatus.PENDING,
                    "created_at": accepted,
                    "updated_at": accepted,
                    "deadline": deadline,
                    "request_count": parsed.count,
                    "queued_count": parsed.count,
                },
            )
            chunk: list[dict[str, Any]] = []
            for index, (custom_id, body) in enumerate(parsed.iter_rows()):
                chunk.append(
                    {
                        "id": uuid7(),
                        "user_id": who.user_id,
                        "batch_id": batch_id,
                        "row_index": index,
                        "custom_id": custom_id,
                        "model": parsed.model,
                        "body": body,
                        "status": ItemStatus.QUEUED,
                        "deadline": deadline,
                        "created_at": accepted,
                    }
                )
                if len(chunk) >= INSERT_CHUNK:
                    store.insert_items(conn, chunk)
                    chunk = []
            store.insert_items(conn, chunk)
            if also is not None:
                also(conn, batch_id)
            announce(conn, WORK_CHANNEL)
            row = store.get_batch(conn, batch_id)
        assert row is not None
        self.work_signal.fire()
        return row

    def get(self, who: Principal, batch_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = store.get_batch(conn, batch_id, user_id=who.user_id)
        if row is None:
            raise NotFound(f"no batch with id {batch_id!r}")
        return batch_to_wire(row)

    def list(self, who: Principal, *, limit: int, before: str | None) -> dict[str, Any]:
        with self.db.read() as conn:
            rows = store.list_batches(conn, user_id=who.user_id, limit=limit + 1, before=before)
        return newest_first(rows, limit, batch_to_wire)

    def cancel(self, who: Principal, batch_id: str) -> dict[str, Any]:
        batch = self.get(who, batch_id)
        if batch["status"] == BatchStatus.CANCELLED:
            return batch
        if batch["status"] in TERMINAL_BATCH_STATUSES:
            raise Conflict(
                f"batch {batch_id} is already {batch['status']}; only pending or running batches can be cancelled"
            )
        current = now()
        try:
            with self.db.write() as conn:
                events = cancel_items(
                    conn,
                    items.c.batch_id == batch_id,
                    statuses=ACTIVE_ITEM_STATUSES,
                    now=current,
                    error=error_json(ErrorCode.BATCH_CANCELLED, "the batch was cancelled before this request finished"),
                )
                if not store.mark_cancelled(conn, batch_id, now=current):
                    raise _AlreadyFinished
                append_events(conn, events, current)
        except _AlreadyFinished:
            pass  # it finished between our read and the write; report how it ended
        else:
            self.events_signal.fire()
        return self.get(who, batch_id)

    def iter_result_lines(self, batch_id: str) -> Iterator[str]:
        """Every finished row in input order, one JSON text each; pages through the store."""
        after = -1
        while True:
            with self.db.read() as conn:
                rows = store.result_rows(conn, batch_id, after_index=after, limit=RESULTS_PAGE)
            for row in rows:
                yield result_row_json(row)
            if len(rows) < RESULTS_PAGE:
                return
            after = rows[-1].row_index

    def results_document(self, who: Principal, batch_id: str, output_url: str) -> Iterator[bytes]:
        """``GET /v1/batches/{id}/results`` as a stream: the rows only once the batch is finished."""
        batch = self.get(who, batch_id)
        head = {
            "batch_id": batch["id"],
            "status": batch["status"],
            "output_url": output_url,
            "completed_at": batch["completed_at"],
        }
        prefix = json.dumps(head)[:-1]
        if batch["status"] not in TERMINAL_BATCH_STATUSES:
            yield (prefix + ',"results":null}').encode()
            return
        yield (prefix + ',"results":[').encode()
        first = True
        for line in self.iter_result_lines(batch_id):
            yield (line if first else "," + line).encode()
            first = False
        yield b"]}"


class _AlreadyFinished(Exception):
    """Rolls back a cancel that raced with the batch's last item finishing."""
