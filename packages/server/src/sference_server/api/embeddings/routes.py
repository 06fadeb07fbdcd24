"""``POST /v1/embeddings`` (and the same under ``/openai/v1``): vectors from an embedding model,
run ahead of queued work like any interactive request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...domain.endpoints import TEXT_EMBEDDING
from ...render.answers import answer
from ..bodies import read_json
from ..deps import ServicesDep, Writer
from ..openapi import AUTHENTICATED, OpenAIError, documented
from ..quotas import interactive_turn
from .schemas import CREATE_BODY, EmbeddingList

router = APIRouter(tags=["embeddings"])


@router.post(
    "/v1/embeddings",
    response_model=None,
    openapi_extra=CREATE_BODY,
    responses=documented(EmbeddingList, *AUTHENTICATED, 404, 413, 503),
)
@router.post(
    "/openai/v1/embeddings",
    response_model=None,
    openapi_extra=CREATE_BODY,
    responses=documented(EmbeddingList, *AUTHENTICATED, 404, 413, 503, error=OpenAIError),
)
async def create_embeddings(request: Request, services: ServicesDep, who: Writer) -> dict[str, Any]:
    body = await read_json(request)
    normalised = services.interactive.validate(body, modality=TEXT_EMBEDDING)
    interactive_turn(request, who)
    return answer(await services.interactive.run(who, normalised, gone=request.is_disconnected))
