"""``/openai/v1/batches``: OpenAI's Batch API over sference batches.

An input file is checked line by line when the batch is created; a file with bad lines gives a
``failed`` batch whose ``errors.data`` names each line (nothing is queued). A good one becomes a
sference batch (same queue, workers, engines) that is ``in_progress`` at once. When it ends, its
output and error files appear: JSONL made from its rows, in input order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic import BaseModel, Field

from ..config import Settings
from ..domain.endpoints import ENDPOINTS, MODALITY_OF_ENDPOINT
from ..domain.outcome import ItemError
from ..domain.states import TERMINAL_BATCH_STATUSES, BatchStatus
from ..errors import BadRequest, NotFound
from ..ids import uuid7
from ..json_input import PlainText
from ..security.principal import Principal
from ..store import batches as batch_store
from ..store import files as file_store
from ..store import openai_batches as store
from ..store.database import Database, Tx
from ..store.records import OpenAIBatch
from ..timeutil import now
from .batches import BatchService
from .files import BATCH_ERROR, BATCH_OUTPUT, UPLOAD
from .lifecycle import Lifecycle
from .openai_batch_input import InvalidInput, check_input


class BatchCreate(BaseModel):
    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[PlainText, PlainText] | None = Field(default=None, max_length=16)


class OpenAIBatches:
    def __init__(self, db: Database, settings: Settings, lifecycle: Lifecycle, batches: BatchService) -> None:
        self.db = db
        self.settings = settings
        self.lifecycle = lifecycle
        self.batches = batches

    def create(self, who: Principal, spec: BatchCreate, *, idempotency_key: str | None = None) -> OpenAIBatch:
        """Check the input file and queue its requests; a repeated ``idempotency_key`` answers
        the batch its first use made."""
        if spec.endpoint not in ENDPOINTS:
            raise BadRequest(
                f"endpoint must be one of {', '.join(ENDPOINTS)}; got {spec.endpoint!r}",
                extra=[{"loc": "endpoint", "message": "unsupported"}],
            )
        if spec.completion_window != "24h":
            raise BadRequest("completion_window must be '24h'", extra=[{"loc": "completion_window", "message": "24h"}])
        return self.batches.idempotency.submit(
            who,
            "openai_batches",
            idempotency_key,
            make=lambda record: self._create(who, spec, record),
            found=lambda batch_id: self.get(who, batch_id),
        )

    def _create(self, who: Principal, spec: BatchCreate, record: Callable[[Tx, str], None] | None) -> OpenAIBatch:
        with self.db.read() as tx:
            source = file_store.get_file(tx, spec.input_file_id, user_id=who.user_id)
        if source is None or source.kind != UPLOAD:
            raise NotFound(f"No such File object: {spec.input_file_id}")
        lines = file_store.iter_lines(file_store.iter_chunks(self.db, source.id), self.settings.max_line_bytes)
        try:
            parsed = check_input(
                lines,
                endpoint=spec.endpoint,
                validate=partial(self.lifecycle.validate, modality=MODALITY_OF_ENDPOINT[spec.endpoint]),
                max_requests=self.settings.max_batch_requests,
            )
        except InvalidInput as invalid:
            return self._failed(who, spec, invalid.errors, record)
        created: list[OpenAIBatch] = []

        def add(tx: Tx, batch_id: str) -> None:
            self._insert(tx, batch_id, spec)
            if record is not None:
                record(tx, batch_id)
            created.append(self._record(tx, who, batch_id))

        try:
            self.lifecycle.enqueue_batch(who, parsed, also=add)
        finally:
            parsed.close()
        # The batch as it was created: a fast worker may have finished it since.
        return created[0]

    @staticmethod
    def _insert(tx: Tx, batch_id: str, spec: BatchCreate, errors: list[dict[str, Any]] | None = None) -> None:
        store.insert_openai_batch(
            tx,
            batch_id=batch_id,
            endpoint=spec.endpoint,
            input_file_id=spec.input_file_id,
            metadata=spec.metadata,
            errors=errors,
        )

    def _failed(
        self,
        who: Principal,
        spec: BatchCreate,
        errors: list[dict[str, Any]],
        record: Callable[[Tx, str], None] | None = None,
    ) -> OpenAIBatch:
        """A batch refused before it started: ``failed``, with the errors of its input file."""
        batch_id, current = uuid7(), now()
        with self.db.write() as tx:
            batch_store.insert_batch(
                tx,
                batch_store.NewBatch(
                    id=batch_id,
                    user_id=who.user_id,
                    model="",
                    window="24h",
                    created_at=current,
                    deadline=current,
                    request_count=0,
                    status=BatchStatus.FAILED,
                    error=ItemError("invalid_input_file", errors[0]["message"]),
                ),
            )
            self._insert(tx, batch_id, spec, errors)
            if record is not None:
                record(tx, batch_id)
        return self.get(who, batch_id)

    def get(self, who: Principal, batch_id: str) -> OpenAIBatch:
        with self.db.read() as tx:
            record = self._record(tx, who, batch_id)
        return self._finalised(who, record)

    def _finalised(self, who: Principal, record: OpenAIBatch) -> OpenAIBatch:
        """The batch with its output and error files, made now if it has just finished."""
        if record.batch.status in TERMINAL_BATCH_STATUSES and record.output_file_id is None and not record.errors:
            return self._finalise(who, record)
        return record

    @staticmethod
    def _record(tx: Tx, who: Principal, batch_id: str) -> OpenAIBatch:
        record = store.get_openai_batch(tx, batch_id, user_id=who.user_id)
        if record is None:
            raise NotFound(f"No such Batch object: {batch_id}")
        return record

    def _finalise(self, who: Principal, record: OpenAIBatch) -> OpenAIBatch:
        """Make the output (and, if any row did not complete, the error) file of a finished batch."""
        batch = record.batch
        output_id = f"file-{uuid7()}"
        error_id = f"file-{uuid7()}" if batch.counts.request_count > batch.counts.completed_count else None
        with self.db.write() as tx:
            if store.set_result_files(tx, batch.id, output_file_id=output_id, error_file_id=error_id):
                for file_id, kind in ((output_id, BATCH_OUTPUT), (error_id, BATCH_ERROR)):
                    if file_id is not None:
                        file_store.insert_file(
                            tx,
                            file_id=file_id,
                            user_id=who.user_id,
                            filename=f"batch_{batch.id}_{kind[6:]}.jsonl",
                            purpose="batch_output",
                            kind=kind,
                            batch_id=batch.id,
                            now=now(),
                        )
            return self._record(tx, who, batch.id)

    def cancel(self, who: Principal, batch_id: str) -> OpenAIBatch:
        with self.db.read() as tx:
            self._record(tx, who, batch_id)
        self.batches.cancel(who, batch_id)
        return self.get(who, batch_id)

    def list(self, who: Principal, *, after: str | None, limit: int) -> list[OpenAIBatch]:
        """Newest first, ``limit + 1`` of them (the extra one only says more exist, as read)."""
        with self.db.read() as tx:
            records = store.list_openai_batches(tx, user_id=who.user_id, before=after, limit=limit + 1)
        return [self._finalised(who, r) for r in records[:limit]] + records[limit:]
