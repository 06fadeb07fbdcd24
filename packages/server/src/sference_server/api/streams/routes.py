"""HTTP for streams (contract §2.5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..deps import Reader, ServicesDep, Writer
from .schemas import StreamCreate, StreamPatch

router = APIRouter(prefix="/v1/streams", tags=["streams"])


@router.post("", status_code=201)
def create_stream(spec: StreamCreate, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return services.streams.create(who, spec)


@router.get("")
def list_streams(
    services: ServicesDep, who: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100, before: str | None = None
) -> dict[str, Any]:
    return services.streams.list(who, limit=limit, before=before)


@router.get("/{stream_id}")
def get_stream(stream_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return services.streams.get(who, stream_id)


@router.patch("/{stream_id}")
def patch_stream(stream_id: str, change: StreamPatch, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return services.streams.patch(who, stream_id, change)
