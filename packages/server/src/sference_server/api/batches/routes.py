"""HTTP for batches (contract §2, rows 2-7)."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ...domain.states import TERMINAL_BATCH_STATUSES
from ...errors import PayloadTooLarge
from ..deps import Reader, ServicesDep, Writer

router = APIRouter(prefix="/v1/batches", tags=["batches"])

SPOOL_IN_MEMORY = 16 * 1024 * 1024


@router.post("", status_code=201)
async def create_batch(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    limit = services.settings.max_batch_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the body is {int(declared)} bytes; the limit is {limit} bytes (SFERENCE_MAX_BATCH_BYTES)"
        )
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes (SFERENCE_MAX_BATCH_BYTES)")
            spool.write(chunk)
        return await anyio.to_thread.run_sync(services.batches.create, who, spool)


@router.get("")
def list_batches(
    services: ServicesDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: str | None = None,
) -> dict[str, Any]:
    return services.batches.list(who, limit=limit, before=before)


@router.get("/{batch_id}")
def get_batch(batch_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return services.batches.get(who, batch_id)


@router.post("/{batch_id}/cancel")
def cancel_batch(batch_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return services.batches.cancel(who, batch_id)


@router.get("/{batch_id}/results")
def get_results(batch_id: str, request: Request, services: ServicesDep, who: Reader) -> StreamingResponse:
    output_url = str(request.url_for("download_results", batch_id=batch_id))
    body = services.batches.results_document(who, batch_id, output_url)
    first = next(body)  # runs the lookup now, so an unknown id is a 404, not a broken stream
    return StreamingResponse(_chain(first, body), media_type="application/json")


@router.get("/{batch_id}/results.jsonl", name="download_results")
def download_results(batch_id: str, services: ServicesDep, who: Reader) -> StreamingResponse:
    batch = services.batches.get(who, batch_id)
    lines = (line.encode() + b"\n" for line in services.batches.iter_result_lines(batch_id))
    partial = batch["status"] not in TERMINAL_BATCH_STATUSES
    return StreamingResponse(
        lines,
        media_type="application/x-ndjson",
        headers={"X-Sference-Partial": "true" if partial else "false"},
    )


def _chain(first: bytes, rest: Any) -> Any:
    yield first
    yield from rest
