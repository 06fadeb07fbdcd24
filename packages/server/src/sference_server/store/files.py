"""The file tables of the OpenAI-compatible API: rows, and the bytes of uploads in chunks."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import delete, insert, select, update

from .database import Database, Tx
from .records import FileRecord
from .tables import file_chunks, files

CHUNK_BYTES = 1024 * 1024


def insert_file(
    tx: Tx,
    *,
    file_id: str,
    user_id: str,
    filename: str,
    purpose: str,
    kind: str,
    now: float,
    batch_id: str | None = None,
) -> None:
    tx.execute(
        insert(files),
        [
            {
                "id": file_id,
                "user_id": user_id,
                "filename": filename,
                "purpose": purpose,
                "kind": kind,
                "batch_id": batch_id,
                "created_at": now,
            }
        ],
    )


def insert_chunk(conn: Tx, file_id: str, seq: int, data: bytes) -> None:
    conn.execute(insert(file_chunks), [{"file_id": file_id, "seq": seq, "data": data}])


def get_file(tx: Tx, file_id: str, *, user_id: str) -> FileRecord | None:
    row = tx.execute(
        select(files).where(files.c.id == file_id, files.c.user_id == user_id, files.c.deleted_at.is_(None))
    ).first()
    return FileRecord.from_row(row) if row is not None else None


def list_files(
    conn: Tx, *, user_id: str, purpose: str | None, after: str | None, limit: int, newest_first: bool
) -> list[FileRecord]:
    query = select(files).where(files.c.user_id == user_id, files.c.deleted_at.is_(None))
    if purpose is not None:
        query = query.where(files.c.purpose == purpose)
    if after is not None:
        query = query.where(files.c.id < after if newest_first else files.c.id > after)
    order = files.c.id.desc() if newest_first else files.c.id
    return [FileRecord.from_row(r) for r in conn.execute(query.order_by(order).limit(limit))]


def delete_file(conn: Tx, file_id: str, *, now: float) -> None:
    conn.execute(update(files).where(files.c.id == file_id).values(deleted_at=now))
    conn.execute(delete(file_chunks).where(file_chunks.c.file_id == file_id))


def set_size(conn: Tx, file_id: str, size: int) -> None:
    conn.execute(update(files).where(files.c.id == file_id).values(bytes=size))


def iter_chunks(db: Database, file_id: str) -> Iterator[bytes]:
    """The bytes of an upload, one chunk per read transaction (flat memory)."""
    seq = -1
    while True:
        with db.read() as conn:
            row = conn.execute(
                select(file_chunks.c.seq, file_chunks.c.data)
                .where(file_chunks.c.file_id == file_id, file_chunks.c.seq > seq)
                .order_by(file_chunks.c.seq)
                .limit(1)
            ).first()
        if row is None:
            return
        seq = row.seq
        yield bytes(row.data)


class LineTooLong(Exception):
    def __init__(self, line: int, limit: int) -> None:
        super().__init__(f"line {line} is longer than {limit} bytes")
        self.line = line
        self.limit = limit


def iter_lines(chunks: Iterator[bytes], max_line: int) -> Iterator[bytes]:
    """Lines across chunk boundaries (without their line ends), in time linear in the bytes: each
    chunk is searched once, and a line's pieces are joined once. A line longer than ``max_line``
    bytes raises ``LineTooLong`` as soon as it is seen, before it is held whole."""
    pieces: list[bytes] = []  # the start of a line that goes on in a later chunk
    held = 0  # their total length
    number = 0
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            if held + end - start > max_line:
                raise LineTooLong(number, max_line)
            line = chunk[start:end]
            if pieces:
                line = b"".join([*pieces, line])
                pieces.clear()
                held = 0
            yield line
            start = end + 1
        if start < len(chunk):
            held += len(chunk) - start
            if held > max_line:
                raise LineTooLong(number + 1, max_line)
            pieces.append(chunk[start:])
    if pieces:
        yield b"".join(pieces)
