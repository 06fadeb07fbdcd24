"""HTTP for ``/v1/responses`` (contract §2.3)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request

from ...render import sference as render
from ...render.pages import openai_list
from ..bodies import read_json
from ..deps import Reader, ServicesDep, Writer

router = APIRouter(prefix="/v1/responses", tags=["responses"])


@router.post("", status_code=201)
async def create_response(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    body = await read_json(request, services.settings.max_request_bytes, "SFERENCE_MAX_REQUEST_BYTES")
    return render.response(await anyio.to_thread.run_sync(services.responses.create, who, body))


@router.get("")
def list_responses(
    services: ServicesDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    stream_id: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    listed = services.responses.list(who, limit=limit, stream_id=stream_id, after=after)
    return openai_list(listed, limit, render.response_summary)


@router.get("/{response_id}")
def get_response(response_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return render.response(services.responses.get(who, response_id))


@router.delete("/{response_id}")
def cancel_response(response_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return render.response(services.responses.cancel(who, response_id))
