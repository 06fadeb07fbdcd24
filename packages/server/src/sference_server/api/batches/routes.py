"""HTTP for batches (contract §2, rows 2-7)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ...domain.states import TERMINAL_BATCH_STATUSES
from ...render import sference as render
from ...render.downloads import attachment
from ...render.pages import newest_first
from ...services import ApiServices
from ...services.idempotency import check_key
from ...store.records import Batch as BatchRecord
from ...store.records import ResultRow
from ..bodies import spooled_body
from ..cursors import IdCursor
from ..deps import IdempotencyKey, Reader, ServicesDep, Writer
from ..openapi import AUTHENTICATED, documented
from .schemas import CREATE_BODY, RESULT_LINES, Batch, BatchPage, ResultsDocument, SubmittedBatch

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.post(
    "",
    status_code=201,
    response_model=None,
    openapi_extra=CREATE_BODY,
    responses=documented(SubmittedBatch, *AUTHENTICATED, 409, 413, status=201),
)
async def create_batch(
    request: Request, services: ServicesDep, who: Writer, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    key = check_key(idempotency_key)
    async with spooled_body(request) as body:
        create = partial(services.batches.create, who, body, idempotency_key=key)
        submitted = await anyio.to_thread.run_sync(create)
    return render.submitted_batch(submitted.batch, submitted.estimate, submitted.feasible)


@router.get("", response_model=None, responses=documented(BatchPage, *AUTHENTICATED))
def list_batches(
    services: ServicesDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: IdCursor = None,
) -> dict[str, Any]:
    listed = services.batches.list(who, limit=limit, before=before)
    return newest_first(listed, limit, lambda batch: render.batch(batch, services.estimates.batch(batch)))


@router.get("/{batch_id}", response_model=None, responses=documented(Batch, *AUTHENTICATED, 404))
def get_batch(batch_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    batch = services.batches.get(who, batch_id)
    return render.batch(batch, services.estimates.batch(batch))


@router.post("/{batch_id}/cancel", response_model=None, responses=documented(Batch, *AUTHENTICATED, 404, 409))
def cancel_batch(batch_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    batch = services.batches.cancel(who, batch_id)
    return render.batch(batch, services.estimates.batch(batch))


@router.post(
    "/{batch_id}/retry",
    status_code=201,
    response_model=None,
    responses=documented(Batch, *AUTHENTICATED, 404, 409, status=201),
)
def retry_batch(
    batch_id: str, services: ServicesDep, who: Writer, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    key = check_key(idempotency_key)
    retry = services.batch_retries.retry(who, batch_id, idempotency_key=key)
    return render.batch(retry, services.estimates.batch(retry))


# ``merged=true``: the rows of the batch a retry began from, each with its latest finished outcome.
Merged = Annotated[bool, Query(description="merge a retry's results with those of the batches it retries")]


@router.get(
    "/{batch_id}/results",
    response_class=StreamingResponse,
    responses=documented(ResultsDocument, *AUTHENTICATED, 404),  # JSON, written as it is read
)
def get_results(
    batch_id: str, request: Request, services: ServicesDep, who: Reader, merged: Merged = False
) -> StreamingResponse:
    batch = services.batches.get(who, batch_id)  # now, so an unknown id is a 404, not a broken stream
    output_url = str(request.url_for("download_results", batch_id=batch_id))
    if merged:
        output_url += "?merged=true"
    rows = _rows(services, batch, merged) if batch.status in TERMINAL_BATCH_STATUSES else None
    return StreamingResponse(render.results_document(batch, output_url, rows), media_type="application/json")


@router.get(
    "/{batch_id}/results.jsonl",
    name="download_results",
    response_class=StreamingResponse,
    responses=documented(None, *AUTHENTICATED, 404, content=RESULT_LINES),
)
def download_results(batch_id: str, services: ServicesDep, who: Reader, merged: Merged = False) -> StreamingResponse:
    batch = services.batches.get(who, batch_id)
    partial = batch.status not in TERMINAL_BATCH_STATUSES
    return StreamingResponse(
        render.result_lines(_rows(services, batch, merged)),
        media_type="application/x-ndjson",
        headers={
            "X-Sference-Partial": "true" if partial else "false",
            "Content-Disposition": attachment(f"{batch_id}{'-merged' if merged else ''}.jsonl"),
        },
    )


def _rows(services: ApiServices, batch: BatchRecord, merged: bool) -> Iterator[ResultRow]:
    return services.batch_retries.merged_rows(batch) if merged else services.batches.iter_rows(batch.id)
