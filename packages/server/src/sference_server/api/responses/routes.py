"""HTTP for ``/v1/responses`` (contract §2.3 and §3): rendered in the request's API version."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ...domain.states import Priority
from ...render import sference as render
from ...render.pages import openai_list
from ..bodies import read_json
from ..cursors import IdCursor
from ..deps import Reader, ServicesDep, Version, Writer
from ..openapi import AUTHENTICATED, documented
from ..quotas import interactive_turn
from .schemas import CREATE_BODY, CREATED_SINCE_2026, Response, ResponsePage

router = APIRouter(prefix="/v1/responses", tags=["responses"])


@router.post(
    "",
    status_code=201,
    response_model=None,
    openapi_extra=CREATE_BODY,
    responses={**documented(Response, *AUTHENTICATED, 404, 413, 504, status=201), 200: CREATED_SINCE_2026},
)
async def create_response(request: Request, services: ServicesDep, who: Writer, version: Version) -> JSONResponse:
    """Queues the response and answers at once, except in versions whose responses block: there
    a response without ``background: true`` (and not a stream's item) is run ahead of queued work
    and answered finished, or cancelled with a 504 after ``blocking_response_seconds``."""
    body = await read_json(request)
    blocking = version.blocking_responses and isinstance(body, dict) and not _queues(body)
    priority = Priority.INTERACTIVE if blocking else Priority.QUEUED
    if blocking:
        interactive_turn(request, who)
    item = await anyio.to_thread.run_sync(lambda: services.responses.create(who, body, priority=priority))
    if blocking:
        item = await services.interactive.wait(
            who, item.id, gone=request.is_disconnected, timeout=services.settings.blocking_response_seconds
        )
    return JSONResponse(render.response(item, version), status_code=version.response_created_status)


def _queues(body: dict[str, Any]) -> bool:
    """A background response, or an item of a stream."""
    metadata = body.get("metadata")
    return bool(body.get("background")) or (isinstance(metadata, dict) and metadata.get("stream_id") is not None)


@router.get("", response_model=None, responses=documented(ResponsePage, *AUTHENTICATED, 404))
def list_responses(
    services: ServicesDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    stream_id: str | None = None,
    after: IdCursor = None,
) -> dict[str, Any]:
    listed = services.responses.list(who, limit=limit, stream_id=stream_id, after=after)
    return openai_list(listed, limit, render.response_summary)


@router.get("/{response_id}", response_model=None, responses=documented(Response, *AUTHENTICATED, 404))
def get_response(response_id: str, services: ServicesDep, who: Reader, version: Version) -> dict[str, Any]:
    return render.response(services.responses.get(who, response_id), version)


@router.delete("/{response_id}", response_model=None, responses=documented(Response, *AUTHENTICATED, 404, 409))
def cancel_response(response_id: str, services: ServicesDep, who: Writer, version: Version) -> dict[str, Any]:
    return render.response(services.responses.cancel(who, response_id), version)
