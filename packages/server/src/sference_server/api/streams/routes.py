"""HTTP for streams (contract §2.5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...render import sference as render
from ...render.pages import newest_first
from ..cursors import IdCursor
from ..deps import Reader, ServicesDep, Writer
from ..openapi import AUTHENTICATED, documented
from .schemas import Stream, StreamCreate, StreamPage, StreamPatch

router = APIRouter(prefix="/v1/streams", tags=["streams"])


@router.post("", status_code=201, response_model=None, responses=documented(Stream, *AUTHENTICATED, status=201))
def create_stream(spec: StreamCreate, services: ServicesDep, who: Writer) -> dict[str, Any]:
    stream = services.streams.create(who, name=spec.name, window=spec.window, webhook_responses=spec.webhook_responses)
    return render.stream(stream, None, None)


@router.get("", response_model=None, responses=documented(StreamPage, *AUTHENTICATED))
def list_streams(
    services: ServicesDep, who: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100, before: IdCursor = None
) -> dict[str, Any]:
    return newest_first(services.streams.list(who, limit=limit, before=before), limit, render.stream_summary)


@router.get("/{stream_id}", response_model=None, responses=documented(Stream, *AUTHENTICATED, 404))
def get_stream(stream_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return render.stream(*services.streams.detail(who, stream_id))


@router.patch("/{stream_id}", response_model=None, responses=documented(Stream, *AUTHENTICATED, 404, 409))
def patch_stream(stream_id: str, change: StreamPatch, services: ServicesDep, who: Writer) -> dict[str, Any]:
    services.streams.patch(
        who, stream_id, name=change.name, status=change.status, webhook_responses=change.webhook_responses
    )
    return render.stream(*services.streams.detail(who, stream_id))
