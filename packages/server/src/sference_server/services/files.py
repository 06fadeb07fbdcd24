"""Files of the OpenAI-compatible API: upload, list, read, delete. Uploads are read from a spooled
temporary file in 1 MiB chunks into the store; a batch's output and error files are made from its
items when read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from ..domain.states import ItemStatus
from ..errors import BadRequest, NotFound, PayloadTooLarge
from ..ids import uuid7
from ..json_input import check_text
from ..render.openai_batches import error_line, output_line
from ..security.principal import Principal
from ..store import files as store
from ..store import items as item_store
from ..store import openai_batches as openai_store
from ..store.database import Database
from ..store.records import FileRecord
from ..timeutil import now

UPLOAD = "upload"
BATCH_OUTPUT, BATCH_ERROR = "batch_output", "batch_error"
PAGE = 1000
MAX_PURPOSE_CHARS = 32  # the store keeps a purpose in 32 characters
NOT_COMPLETED = (ItemStatus.FAILED, ItemStatus.EXPIRED, ItemStatus.CANCELLED)


class FileService:
    def __init__(self, db: Database, max_bytes: int, max_line: int) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self.max_line = max_line

    def upload(self, who: Principal, source: IO[bytes], filename: str, purpose: str) -> FileRecord:
        file_id, size = f"file-{uuid7()}", 0
        check_text(filename, "file (its filename)")
        check_text(purpose, "purpose")
        if len(purpose) > MAX_PURPOSE_CHARS:  # found by the fuzz run: PostgreSQL refused it with a 500
            raise BadRequest(
                f"purpose is {len(purpose)} characters; at most {MAX_PURPOSE_CHARS} (e.g. batch)",
                extra=[{"loc": "purpose", "message": "too long"}],
            )
        lines = LineMeter(self.max_line) if purpose == "batch" else None
        with self.db.write() as tx:
            store.insert_file(
                tx,
                file_id=file_id,
                user_id=who.user_id,
                filename=filename[:255],
                purpose=purpose,
                kind=UPLOAD,
                now=now(),
            )
            for seq, chunk in enumerate(iter(lambda: source.read(store.CHUNK_BYTES), b"")):
                size += len(chunk)
                if size > self.max_bytes:
                    raise PayloadTooLarge(
                        f"the file exceeds the limit of {self.max_bytes} bytes (SFERENCE_MAX_BATCH_BYTES)"
                    )
                if lines is not None:
                    lines.feed(chunk)
                store.insert_chunk(tx, file_id, seq, chunk)
            store.set_size(tx, file_id, size)
            record = store.get_file(tx, file_id, user_id=who.user_id)
        assert record is not None
        return record

    def get(self, who: Principal, file_id: str) -> FileRecord:
        with self.db.read() as tx:
            record = store.get_file(tx, file_id, user_id=who.user_id)
        if record is None:
            raise NotFound(f"No such File object: {file_id}")
        if record.kind != UPLOAD and record.bytes is None:
            record = self._measure(record)
        return record

    def _measure(self, record: FileRecord) -> FileRecord:
        """A batch file's size, counted once (its batch has finished: it cannot change)."""
        size = sum(len(line) for line in self.content(record))
        with self.db.write() as tx:
            store.set_size(tx, record.id, size)
            measured = store.get_file(tx, record.id, user_id=record.user_id)
        assert measured is not None
        return measured

    def content(self, record: FileRecord) -> Iterator[bytes]:
        if record.kind == UPLOAD:
            yield from store.iter_chunks(self.db, record.id)
            return
        assert record.batch_id is not None
        with self.db.read() as tx:
            endpoint = openai_store.endpoint_of(tx, record.batch_id)
        output = record.kind == BATCH_OUTPUT
        wanted = (ItemStatus.COMPLETED,) if output else NOT_COMPLETED
        for item in item_store.iter_batch_rows(self.db, record.batch_id, statuses=wanted, page=PAGE):
            line = output_line(item, endpoint) if output else error_line(item)
            yield line.encode() + b"\n"

    def delete(self, who: Principal, file_id: str) -> dict[str, object]:
        record = self.get(who, file_id)
        with self.db.write() as tx:
            store.delete_file(tx, record.id, now=now())
        return {"id": file_id, "object": "file", "deleted": True}

    def list(
        self, who: Principal, *, purpose: str | None, after: str | None, limit: int, newest_first: bool
    ) -> list[FileRecord]:
        """``limit + 1`` files (the extra one says more exist)."""
        with self.db.read() as tx:
            return store.list_files(
                tx, user_id=who.user_id, purpose=purpose, after=after, limit=limit + 1, newest_first=newest_first
            )


class LineMeter:
    """Refuses a batch input file with a line longer than ``limit`` bytes, by its number, as
    the file is stored (each chunk is searched once)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.line = 1
        self.length = 0  # of the current line so far

    def feed(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self._check(self.length + end - start)
            self.line += 1
            self.length = 0
            start = end + 1
        self.length += len(chunk) - start
        self._check(self.length)

    def _check(self, length: int) -> None:
        if length > self.limit:
            raise BadRequest(
                f"line {self.line} of the file is longer than {self.limit} bytes (SFERENCE_MAX_LINE_BYTES)",
                extra=[{"loc": f"file.line {self.line}", "message": "line too long"}],
            )
