"""The ``openai_batches`` table: what the OpenAI Batch API adds to a batch."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from .database import Tx
from .records import OpenAIBatch
from .tables import batches, openai_batches


def insert_openai_batch(
    tx: Tx,
    *,
    batch_id: str,
    endpoint: str,
    input_file_id: str,
    metadata: dict[str, Any] | None,
    errors: list[dict[str, Any]] | None = None,
) -> None:
    tx.execute(
        openai_batches.insert(),
        [
            {
                "batch_id": batch_id,
                "endpoint": endpoint,
                "input_file_id": input_file_id,
                "metadata": json.dumps(metadata) if metadata else None,
                "errors": json.dumps(errors) if errors else None,
            }
        ],
    )


def get_openai_batch(tx: Tx, batch_id: str, *, user_id: str) -> OpenAIBatch | None:
    row = tx.execute(
        select(batches, openai_batches)
        .join(openai_batches, openai_batches.c.batch_id == batches.c.id)
        .where(batches.c.id == batch_id, batches.c.user_id == user_id)
    ).first()
    return OpenAIBatch.from_row(row) if row is not None else None


def list_openai_batches(tx: Tx, *, user_id: str, before: str | None, limit: int) -> list[OpenAIBatch]:
    """Newest first."""
    query = (
        select(batches, openai_batches)
        .join(openai_batches, openai_batches.c.batch_id == batches.c.id)
        .where(batches.c.user_id == user_id)
    )
    if before is not None:
        query = query.where(batches.c.id < before)
    return [OpenAIBatch.from_row(r) for r in tx.execute(query.order_by(batches.c.id.desc()).limit(limit))]


def set_result_files(tx: Tx, batch_id: str, *, output_file_id: str, error_file_id: str | None) -> bool:
    """Record a finished batch's files, once: False when another request got there first."""
    result = tx.execute(
        update(openai_batches)
        .where(openai_batches.c.batch_id == batch_id, openai_batches.c.output_file_id.is_(None))
        .values(output_file_id=output_file_id, error_file_id=error_file_id)
    )
    return result.rowcount == 1


def endpoint_of(tx: Tx, batch_id: str) -> str:
    return str(tx.execute(select(openai_batches.c.endpoint).where(openai_batches.c.batch_id == batch_id)).scalar_one())
