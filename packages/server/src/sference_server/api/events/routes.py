"""``GET /v1/responses/events``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...render import sference as render
from ..cursors import IdCursor
from ..deps import Reader, ServicesDep
from ..openapi import AUTHENTICATED, documented
from .schemas import EventPage

router = APIRouter(prefix="/v1/responses", tags=["events"])


@router.get("/events", response_model=None, responses=documented(EventPage, *AUTHENTICATED, 404))
async def list_events(
    services: ServicesDep,
    who: Reader,
    stream_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    starting_after: IdCursor = None,
    ending_before: IdCursor = None,
    wait_ms: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    events, more = await services.events.wait_for_page(
        who, stream_id=stream_id, after=starting_after, before=ending_before, limit=limit, wait_ms=wait_ms
    )
    return {"object": "list", "data": [render.event(e) for e in events], "has_more": more}
