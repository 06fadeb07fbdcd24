"""HTTP of the OpenAI-compatible surface under ``/openai/v1`` (plus ``POST /v1/chat/completions``).

Thin: each route reads the request, calls a service (services/files.py, openai_batches.py,
interactive.py) and renders what it returns (render/openai_*.py).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from ...domain.states import ItemStatus, Priority
from ...errors import BadRequest, NotFound
from ...render.downloads import attachment
from ...render.openai_batches import batch_object, file_object
from ...render.openai_chat import chat_completion
from ...render.openai_responses import response_object
from ...render.pages import openai_list
from ...services.idempotency import check_key
from ...services.interactive import raise_for_failure
from ...services.openai_batches import BatchCreate
from ..bodies import read_json
from ..cursors import FileCursor, IdCursor
from ..deps import IdempotencyKey, Reader, ServicesDep, Writer
from ..openapi import AUTHENTICATED, SSE, OpenAIError, documented
from ..quotas import interactive_turn
from .schemas import (
    CHAT_BODY,
    FILE_CONTENT,
    RESPONSE_BODY,
    UPLOAD_BODY,
    ChatCompletion,
    File,
    FileDeleted,
    FilePage,
    OpenAIBatch,
    OpenAIBatchPage,
    OpenAIModel,
    OpenAIModelList,
    OpenAIResponse,
)
from .streaming import chat_stream, response_stream

router = APIRouter(tags=["openai"])
PREFIX = "/openai/v1"


# -- files -------------------------------------------------------------------------------------


@router.post(
    f"{PREFIX}/files",
    response_model=None,
    openapi_extra=UPLOAD_BODY,
    responses=documented(File, *AUTHENTICATED, 413, error=OpenAIError),
)
async def upload_file(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    # The body's size is limited as it arrives (api/body_limits.py), the file's as it is stored.
    async with request.form() as form:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise BadRequest("multipart field 'file' is required", extra=[{"loc": "file", "message": "required"}])
        if not isinstance(purpose, str) or not purpose:
            raise BadRequest(
                "multipart field 'purpose' is required (e.g. batch)", extra=[{"loc": "purpose", "message": "required"}]
            )
        uploaded = await anyio.to_thread.run_sync(
            services.files.upload, who, upload.file, upload.filename or "upload.jsonl", purpose
        )
        return file_object(uploaded)


@router.get(f"{PREFIX}/files", response_model=None, responses=documented(FilePage, *AUTHENTICATED, error=OpenAIError))
def list_files(
    services: ServicesDep,
    who: Reader,
    purpose: str | None = None,
    after: FileCursor = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: str = "desc",
) -> dict[str, Any]:
    listed = services.files.list(who, purpose=purpose, after=after, limit=limit, newest_first=order == "desc")
    return openai_list(listed, limit, file_object)


@router.get(
    f"{PREFIX}/files/{{file_id}}",
    response_model=None,
    responses=documented(File, *AUTHENTICATED, 404, error=OpenAIError),
)
def get_file(file_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return file_object(services.files.get(who, file_id))


@router.get(
    f"{PREFIX}/files/{{file_id}}/content",
    response_class=StreamingResponse,
    responses=documented(None, *AUTHENTICATED, 404, error=OpenAIError, content=FILE_CONTENT),
)
def file_content(file_id: str, services: ServicesDep, who: Reader) -> StreamingResponse:
    row = services.files.get(who, file_id)
    return StreamingResponse(
        services.files.content(row),
        media_type="application/octet-stream",
        headers={"Content-Disposition": attachment(row.filename)},
    )


@router.delete(
    f"{PREFIX}/files/{{file_id}}",
    response_model=None,
    responses=documented(FileDeleted, *AUTHENTICATED, 404, 409, error=OpenAIError),
)
def delete_file(file_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return services.files.delete(who, file_id)


# -- batches -----------------------------------------------------------------------------------


@router.post(
    f"{PREFIX}/batches",
    response_model=None,
    responses=documented(OpenAIBatch, *AUTHENTICATED, 404, 413, error=OpenAIError),
)
async def create_batch(
    spec: BatchCreate, services: ServicesDep, who: Writer, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    create = partial(services.openai_batches.create, who, spec, idempotency_key=check_key(idempotency_key))
    return batch_object(await anyio.to_thread.run_sync(create))


@router.get(
    f"{PREFIX}/batches", response_model=None, responses=documented(OpenAIBatchPage, *AUTHENTICATED, error=OpenAIError)
)
def list_batches(
    services: ServicesDep, who: Reader, after: IdCursor = None, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict[str, Any]:
    listed = services.openai_batches.list(who, after=after, limit=limit)
    return openai_list(listed, limit, batch_object)


@router.get(
    f"{PREFIX}/batches/{{batch_id}}",
    response_model=None,
    responses=documented(OpenAIBatch, *AUTHENTICATED, 404, error=OpenAIError),
)
def get_batch(batch_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return batch_object(services.openai_batches.get(who, batch_id))


@router.post(
    f"{PREFIX}/batches/{{batch_id}}/cancel",
    response_model=None,
    responses=documented(OpenAIBatch, *AUTHENTICATED, 404, 409, error=OpenAIError),
)
def cancel_batch(batch_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return batch_object(services.openai_batches.cancel(who, batch_id))


# -- chat completions --------------------------------------------------------------------------


@router.post(
    f"{PREFIX}/chat/completions",
    response_model=None,
    openapi_extra=CHAT_BODY,
    responses=documented(ChatCompletion, *AUTHENTICATED, 404, 413, 503, error=OpenAIError, content=SSE),
)
@router.post(
    "/v1/chat/completions",
    response_model=None,
    openapi_extra=CHAT_BODY,
    responses=documented(ChatCompletion, *AUTHENTICATED, 404, 413, 503, content=SSE),
)
async def chat_completions(request: Request, services: ServicesDep, who: Writer) -> Response:
    """Blocking, or ``stream: true``: server-sent events as the engine makes the answer."""
    body = await read_json(request)
    chat = services.interactive.validate(body)
    interactive_turn(request, who)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await chat_stream(services, who, request, chat, include_usage=include_usage)
    item = await anyio.to_thread.run_sync(services.interactive.submit, who, chat)
    item = await services.interactive.wait(who, item.id, gone=request.is_disconnected)
    raise_for_failure(item)
    return JSONResponse(chat_completion(item))


# -- responses ---------------------------------------------------------------------------------


@router.post(
    f"{PREFIX}/responses",
    response_model=None,
    openapi_extra=RESPONSE_BODY,
    responses=documented(OpenAIResponse, *AUTHENTICATED, 404, 413, 503, error=OpenAIError, content=SSE),
)
async def create_response(request: Request, services: ServicesDep, who: Writer) -> Any:
    """Blocking by default; ``background: true`` answers at once (poll ``GET .../{id}``);
    ``stream: true`` sends the Responses events as the engine makes the answer."""
    body = await read_json(request)
    chat = services.interactive.validate(body)
    background = bool(body.get("background"))
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
    priority = Priority.QUEUED if background else Priority.INTERACTIVE
    if not background:
        interactive_turn(request, who)
    if body.get("stream"):
        return await response_stream(services, who, request, chat, priority=priority, metadata=metadata)
    item = await anyio.to_thread.run_sync(
        lambda: services.interactive.submit(who, chat, priority=priority, metadata=metadata)
    )
    if background:
        return response_object(item)
    item = await services.interactive.wait(who, item.id, gone=request.is_disconnected)
    if item.status != ItemStatus.COMPLETED:
        raise_for_failure(item)
    return response_object(item)


@router.get(
    f"{PREFIX}/responses/{{response_id}}",
    response_model=None,
    responses=documented(OpenAIResponse, *AUTHENTICATED, 404, error=OpenAIError),
)
def get_response(response_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return response_object(services.interactive.get(who, response_id))


@router.post(
    f"{PREFIX}/responses/{{response_id}}/cancel",
    response_model=None,
    responses=documented(OpenAIResponse, *AUTHENTICATED, 404, 409, error=OpenAIError),
)
def cancel_response(response_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return response_object(services.interactive.cancel_response(who, response_id))


# -- models ------------------------------------------------------------------------------------


@router.get(
    f"{PREFIX}/models", response_model=None, responses=documented(OpenAIModelList, *AUTHENTICATED, error=OpenAIError)
)
def list_models(services: ServicesDep, _who: Reader) -> dict[str, Any]:
    return {"object": "list", "data": [_model(services, m) for m in services.core.catalog.ids()]}


@router.get(
    f"{PREFIX}/models/{{model_id:path}}",
    response_model=None,
    responses=documented(OpenAIModel, *AUTHENTICATED, 404, error=OpenAIError),
)
def get_model(model_id: str, services: ServicesDep, _who: Reader) -> dict[str, Any]:
    if services.core.catalog.limits(model_id) is None:
        raise NotFound(f"The model {model_id!r} does not exist")
    return _model(services, model_id)


def _model(services: Any, model_id: str) -> dict[str, Any]:
    """OpenAI's model object, with the context length as vLLM reports it (``max_model_len``) and
    what the model is for (``modality``: text_generation, text_embedding or decisions)."""
    catalog = services.core.catalog
    return {
        "id": model_id,
        "object": "model",
        "created": int(services.core.started_at),
        "owned_by": "sference",
        "max_model_len": catalog.limits(model_id).context,
        "modality": catalog.modality(model_id),
    }
