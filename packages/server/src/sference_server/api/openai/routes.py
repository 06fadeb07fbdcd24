"""HTTP of the OpenAI-compatible surface under ``/openai/v1`` (plus ``POST /v1/chat/completions``).

Thin: each route reads the request and calls a service (files.py, batches.py, interactive.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from ...domain.states import ACTIVE_ITEM_STATUSES, ItemStatus, Priority
from ...errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from ..deps import Reader, ServicesDep, Writer
from .batches import BatchCreate
from .interactive import raise_for_failure
from .wire import completion_chunks, file_object, response_object

router = APIRouter(tags=["openai"])
PREFIX = "/openai/v1"


async def json_body(request: Request, limit: int) -> Any:
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc


# -- files -------------------------------------------------------------------------------------


@router.post(f"{PREFIX}/files")
async def upload_file(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    limit = services.files.max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(f"the upload is {int(declared)} bytes; the limit is {limit} bytes")
    async with request.form() as form:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise BadRequest("multipart field 'file' is required", extra=[{"loc": "file", "message": "required"}])
        if not isinstance(purpose, str) or not purpose:
            raise BadRequest(
                "multipart field 'purpose' is required (e.g. batch)", extra=[{"loc": "purpose", "message": "required"}]
            )
        return await anyio.to_thread.run_sync(
            services.files.upload, who, upload.file, upload.filename or "upload.jsonl", purpose
        )


@router.get(f"{PREFIX}/files")
def list_files(
    services: ServicesDep,
    who: Reader,
    purpose: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: str = "desc",
) -> dict[str, Any]:
    return services.files.list(who, purpose=purpose, after=after, limit=limit, order=order)


@router.get(f"{PREFIX}/files/{{file_id}}")
def get_file(file_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return file_object(services.files.row(who, file_id))


@router.get(f"{PREFIX}/files/{{file_id}}/content")
def file_content(file_id: str, services: ServicesDep, who: Reader) -> StreamingResponse:
    row = services.files.row(who, file_id)
    return StreamingResponse(
        services.files.content(row),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{row.filename}"'},
    )


@router.delete(f"{PREFIX}/files/{{file_id}}")
def delete_file(file_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return services.files.delete(who, file_id)


# -- batches -----------------------------------------------------------------------------------


@router.post(f"{PREFIX}/batches")
async def create_batch(spec: BatchCreate, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(services.openai_batches.create, who, spec)


@router.get(f"{PREFIX}/batches")
def list_batches(
    services: ServicesDep, who: Reader, after: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict[str, Any]:
    return services.openai_batches.list(who, after=after, limit=limit)


@router.get(f"{PREFIX}/batches/{{batch_id}}")
def get_batch(batch_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return services.openai_batches.get(who, batch_id)


@router.post(f"{PREFIX}/batches/{{batch_id}}/cancel")
def cancel_batch(batch_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return services.openai_batches.cancel(who, batch_id)


# -- chat completions --------------------------------------------------------------------------


@router.post(f"{PREFIX}/chat/completions")
@router.post("/v1/chat/completions")
async def chat_completions(request: Request, services: ServicesDep, who: Writer) -> Response:
    """Blocking, or ``stream: true`` as server-sent events (sent once the answer is complete)."""
    body = await json_body(request, services.settings.max_request_bytes)
    chat = services.interactive.validate(body)
    item_id = await anyio.to_thread.run_sync(services.interactive.submit, who, chat)
    row = await services.interactive.wait(who, item_id, gone=request.is_disconnected)
    raise_for_failure(row)
    completion = json.loads(row.result)
    if not body.get("stream"):
        return JSONResponse(completion)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return StreamingResponse(
        _events(completion_chunks(completion, include_usage=include_usage)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def _events(chunks: list[dict[str, Any]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


# -- responses ---------------------------------------------------------------------------------


@router.post(f"{PREFIX}/responses")
async def create_response(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    """Blocking by default; ``background: true`` answers at once (poll ``GET .../{id}``)."""
    body = await json_body(request, services.settings.max_request_bytes)
    if isinstance(body, dict) and body.get("stream"):
        raise BadRequest(
            "stream is not supported for responses yet; use background: true and poll",
            extra=[{"loc": "stream", "message": "unsupported"}],
        )
    chat = services.interactive.validate(body)
    background = bool(body.get("background"))
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
    priority = Priority.QUEUED if background else Priority.INTERACTIVE
    item_id = await anyio.to_thread.run_sync(
        lambda: services.interactive.submit(who, chat, priority=priority, metadata=metadata)
    )
    if background:
        return response_object(await anyio.to_thread.run_sync(services.interactive.row, who, item_id))
    row = await services.interactive.wait(who, item_id, gone=request.is_disconnected)
    if row.status != ItemStatus.COMPLETED:
        raise_for_failure(row)
    return response_object(row)


def _response_row(services: Any, who: Any, response_id: str) -> Any:
    row = services.interactive.row(who, response_id)
    if row is None:
        raise NotFound(f"No response with id {response_id!r}")
    return row


@router.get(f"{PREFIX}/responses/{{response_id}}")
def get_response(response_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return response_object(_response_row(services, who, response_id))


@router.post(f"{PREFIX}/responses/{{response_id}}/cancel")
def cancel_response(response_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    row = _response_row(services, who, response_id)
    if row.status not in (*ACTIVE_ITEM_STATUSES, ItemStatus.CANCELLED):
        raise Conflict(f"response {response_id} already finished ({row.status})")
    services.interactive.cancel(response_id, "the response was cancelled before it finished")
    return response_object(_response_row(services, who, response_id))


# -- models ------------------------------------------------------------------------------------


@router.get(f"{PREFIX}/models")
def list_models(services: ServicesDep, _who: Reader) -> dict[str, Any]:
    return {"object": "list", "data": [_model(services, m) for m in services.catalog.ids()]}


@router.get(f"{PREFIX}/models/{{model_id:path}}")
def get_model(model_id: str, services: ServicesDep, _who: Reader) -> dict[str, Any]:
    if services.catalog.limits(model_id) is None:
        raise NotFound(f"The model {model_id!r} does not exist")
    return _model(services, model_id)


def _model(services: Any, model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": int(services.started_at), "owned_by": "sference"}
