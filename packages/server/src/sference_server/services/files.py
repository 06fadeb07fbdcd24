"""``/openai/v1/files``: upload, list, read, delete. Uploads are read from a spooled temporary
file in 1 MiB chunks into the store; a batch's output and error files are made from its items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from ...errors import NotFound, PayloadTooLarge
from ...ids import uuid7
from ...security.principal import Principal
from ...store import files as store
from ...store.database import Database
from ...store.queue import CHUNK as PAGE
from ...store.tables import items
from ...timeutil import now
from ..pages import openai_list
from .wire import error_line, file_object, output_line

UPLOAD = "upload"
BATCH_OUTPUT, BATCH_ERROR = "batch_output", "batch_error"


class FileService:
    def __init__(self, db: Database, max_bytes: int) -> None:
        self.db = db
        self.max_bytes = max_bytes

    def upload(self, who: Principal, source: IO[bytes], filename: str, purpose: str) -> dict[str, Any]:
        file_id, size = f"file-{uuid7()}", 0
        with self.db.write() as conn:
            store.insert_file(
                conn,
                {
                    "id": file_id,
                    "user_id": who.user_id,
                    "filename": filename[:255],
                    "purpose": purpose,
                    "kind": UPLOAD,
                    "created_at": now(),
                },
            )
            for seq, chunk in enumerate(iter(lambda: source.read(store.CHUNK_BYTES), b"")):
                size += len(chunk)
                if size > self.max_bytes:
                    raise PayloadTooLarge(
                        f"the file exceeds the limit of {self.max_bytes} bytes (SFERENCE_MAX_BATCH_BYTES)"
                    )
                store.insert_chunk(conn, file_id, seq, chunk)
            store.set_size(conn, file_id, size)
            row = store.get_file(conn, file_id, user_id=who.user_id)
        return file_object(row)

    def row(self, who: Principal, file_id: str) -> Any:
        with self.db.read() as conn:
            row = store.get_file(conn, file_id, user_id=who.user_id)
        if row is None:
            raise NotFound(f"No such File object: {file_id}")
        if row.kind != UPLOAD and row.bytes is None:
            row = self._measure(row)
        return row

    def _measure(self, row: Any) -> Any:
        """A batch file's size, counted once (its batch has finished: it cannot change)."""
        size = sum(len(line) for line in self.content(row))
        with self.db.write() as conn:
            store.set_size(conn, row.id, size)
            return store.get_file(conn, row.id, user_id=row.user_id)

    def content(self, row: Any) -> Iterator[bytes]:
        if row.kind == UPLOAD:
            yield from store.iter_chunks(self.db, row.id)
            return
        with self.db.read() as conn:
            endpoint = store.openai_batch(conn, row.batch_id).endpoint
        wanted = ("completed",) if row.kind == BATCH_OUTPUT else ("failed", "expired", "cancelled")
        after = -1
        while True:
            with self.db.read() as conn:
                page = list(
                    conn.execute(
                        items.select()
                        .where(items.c.batch_id == row.batch_id, items.c.row_index > after, items.c.status.in_(wanted))
                        .order_by(items.c.row_index)
                        .limit(PAGE)
                    )
                )
            for item in page:
                line = output_line(item, endpoint) if row.kind == BATCH_OUTPUT else error_line(item)
                yield line.encode() + b"\n"
            if len(page) < PAGE:
                return
            after = page[-1].row_index

    def delete(self, who: Principal, file_id: str) -> dict[str, Any]:
        row = self.row(who, file_id)
        with self.db.write() as conn:
            store.delete_file(conn, row.id, now=now())
        return {"id": file_id, "object": "file", "deleted": True}

    def list(self, who: Principal, *, purpose: str | None, after: str | None, limit: int, order: str) -> dict[str, Any]:
        with self.db.read() as conn:
            rows = store.list_files(
                conn, user_id=who.user_id, purpose=purpose, after=after, limit=limit + 1, newest_first=order == "desc"
            )
        return openai_list(rows, limit, file_object)
