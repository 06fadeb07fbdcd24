"""``POST /v1/decisions``: questions about one state, answered from a decisions model's
next-token probabilities (domain/decisions.py), run ahead of queued work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...domain.endpoints import DECISIONS
from ...render.answers import answer
from ..bodies import read_json
from ..deps import ServicesDep, Writer
from ..openapi import AUTHENTICATED, documented
from ..quotas import interactive_turn
from .schemas import CREATE_BODY, Decision

router = APIRouter(tags=["decisions"])


@router.post(
    "/v1/decisions",
    response_model=None,
    openapi_extra=CREATE_BODY,
    responses=documented(Decision, *AUTHENTICATED, 404, 413, 503),
)
async def create_decision(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    body = await read_json(request)
    normalised = services.interactive.validate(body, modality=DECISIONS)
    interactive_turn(request, who)
    return answer(await services.interactive.run(who, normalised, gone=request.is_disconnected))
