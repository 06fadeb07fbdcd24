"""``/openai/v1/batches``: OpenAI's Batch API over sference batches.

An input file is checked line by line when the batch is created; a file with bad lines gives a
``failed`` batch whose ``errors.data`` names each line (nothing is queued). A good one becomes a
sference batch (same queue, workers, engines) that is ``in_progress`` at once. When it ends, its
output and error files appear: JSONL made from its rows, in input order.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from ...catalog import ModelCatalog
from ...config import Settings
from ...domain.states import TERMINAL_BATCH_STATUSES, BatchStatus
from ...errors import BadRequest, NotFound
from ...ids import uuid7
from ...security.principal import Principal
from ...store import batches as batch_store
from ...store import files as file_store
from ...store.database import Database
from ...store.tables import batches, openai_batches
from ...timeutil import now
from ..batches.service import BatchService
from ..pages import openai_list
from .batch_input import InvalidInput, check_input
from .files import BATCH_ERROR, BATCH_OUTPUT, UPLOAD
from .wire import ENDPOINTS, batch_object


class BatchCreate(BaseModel):
    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = Field(default=None, max_length=16)


class OpenAIBatches:
    def __init__(self, db: Database, settings: Settings, catalog: ModelCatalog, batches: BatchService) -> None:
        self.db = db
        self.settings = settings
        self.catalog = catalog
        self.batches = batches

    def create(self, who: Principal, spec: BatchCreate) -> dict[str, Any]:
        if spec.endpoint not in ENDPOINTS:
            raise BadRequest(
                f"endpoint must be one of {', '.join(ENDPOINTS)}; got {spec.endpoint!r}",
                extra=[{"loc": "endpoint", "message": "unsupported"}],
            )
        if spec.completion_window != "24h":
            raise BadRequest("completion_window must be '24h'", extra=[{"loc": "completion_window", "message": "24h"}])
        with self.db.read() as conn:
            source = file_store.get_file(conn, spec.input_file_id, user_id=who.user_id)
        if source is None or source.kind != UPLOAD:
            raise NotFound(f"No such File object: {spec.input_file_id}")
        extra = {
            "endpoint": spec.endpoint,
            "input_file_id": spec.input_file_id,
            "metadata": json.dumps(spec.metadata) if spec.metadata else None,
        }
        lines = file_store.iter_lines(file_store.iter_chunks(self.db, source.id))
        try:
            parsed = check_input(
                lines, endpoint=spec.endpoint, catalog=self.catalog, max_requests=self.settings.max_batch_requests
            )
        except InvalidInput as invalid:
            return self._failed(who, extra, invalid.errors)
        try:

            def add(conn: Connection, batch_id: str) -> None:
                file_store.insert_openai_batch(conn, {"batch_id": batch_id, **extra})

            row = self.batches.insert(who, parsed, also=add)
        finally:
            parsed.close()
        return self.get(who, row.id)

    def _failed(self, who: Principal, extra: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
        batch_id, current = uuid7(), now()
        reason = json.dumps({"code": "invalid_input_file", "message": errors[0]["message"]})
        with self.db.write() as conn:
            batch_store.insert_batch(
                conn,
                {
                    "id": batch_id,
                    "user_id": who.user_id,
                    "model": "",
                    "window": "24h",
                    "status": BatchStatus.FAILED,
                    "created_at": current,
                    "updated_at": current,
                    "deadline": current,
                    "completed_at": current,
                    "request_count": 0,
                    "queued_count": 0,
                    "error": reason,
                },
            )
            file_store.insert_openai_batch(conn, {"batch_id": batch_id, **extra, "errors": json.dumps(errors)})
        return self.get(who, batch_id)

    def get(self, who: Principal, batch_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = self._row(conn, who, batch_id)
        if row.status in TERMINAL_BATCH_STATUSES and row.output_file_id is None and not row.errors:
            row = self._finalise(who, row)
        return batch_object(row, row)

    @staticmethod
    def _row(conn: Connection, who: Principal, batch_id: str) -> Any:
        row = conn.execute(
            select(batches, openai_batches)
            .join(openai_batches, openai_batches.c.batch_id == batches.c.id)
            .where(batches.c.id == batch_id, batches.c.user_id == who.user_id)
        ).first()
        if row is None:
            raise NotFound(f"No such Batch object: {batch_id}")
        return row

    def _finalise(self, who: Principal, row: Any) -> Any:
        """Make the output (and, if any row did not complete, the error) file of a finished batch."""
        output_id = f"file-{uuid7()}"
        error_id = f"file-{uuid7()}" if row.request_count > row.completed_count else None
        with self.db.write() as conn:
            claimed = conn.execute(
                openai_batches.update()
                .where(openai_batches.c.batch_id == row.id, openai_batches.c.output_file_id.is_(None))
                .values(output_file_id=output_id, error_file_id=error_id)
            ).rowcount
            if claimed:
                for file_id, kind in ((output_id, BATCH_OUTPUT), (error_id, BATCH_ERROR)):
                    if file_id is not None:
                        file_store.insert_file(
                            conn,
                            {
                                "id": file_id,
                                "user_id": who.user_id,
                                "filename": f"batch_{row.id}_{kind[6:]}.jsonl",
                                "purpose": "batch_output",
                                "kind": kind,
                                "batch_id": row.id,
                                "created_at": now(),
                            },
                        )
            return self._row(conn, who, row.id)

    def cancel(self, who: Principal, batch_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            self._row(conn, who, batch_id)
        self.batches.cancel(who, batch_id)
        return self.get(who, batch_id)

    def list(self, who: Principal, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.db.read() as conn:
            query = (
                select(batches.c.id)
                .join(openai_batches, openai_batches.c.batch_id == batches.c.id)
                .where(batches.c.user_id == who.user_id)
            )
            if after is not None:
                query = query.where(batches.c.id < after)
            ids = list(conn.execute(query.order_by(batches.c.id.desc()).limit(limit + 1)).scalars())
        return openai_list(ids, limit, lambda batch_id: self.get(who, batch_id))
