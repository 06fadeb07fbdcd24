"""HTTP for ``/v1/responses`` (contract §2.3)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request

from ...errors import BadRequest, PayloadTooLarge
from ..deps import Reader, ServicesDep, Writer

router = APIRouter(prefix="/v1/responses", tags=["responses"])


@router.post("", status_code=201)
async def create_response(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    limit = services.settings.max_request_bytes
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes (SFERENCE_MAX_REQUEST_BYTES)")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    return await anyio.to_thread.run_sync(services.responses.create, who, body)


@router.get("")
def list_responses(
    services: ServicesDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    stream_id: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    return services.responses.list(who, limit=limit, stream_id=stream_id, after=after)


@router.get("/{response_id}")
def get_response(response_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return services.responses.get(who, response_id)


@router.delete("/{response_id}")
def cancel_response(response_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return services.responses.cancel(who, response_id)
