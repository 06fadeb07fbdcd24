"""HTTP of Anthropic's Messages API: ``POST /v1/messages`` (docs/anthropic.md).

The body becomes a chat body (domain/anthropic.py) and runs as an interactive request, like a
chat completion: blocking until the answer, or ``stream: true`` for Anthropic's events as the
engine makes it. A key is accepted as ``x-api-key`` or ``Authorization: Bearer``; the
``anthropic-version`` and ``anthropic-beta`` headers are accepted and ignored. Errors under this
path have Anthropic's shape (api/errors.py).
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ...domain import anthropic
from ...domain.chat import FieldError
from ...errors import BadRequest, NotFound
from ...render.anthropic import message_object
from ...services.interactive import raise_for_failure
from ..bodies import read_json
from ..deps import ServicesDep, Writer
from ..openapi import AUTHENTICATED, SSE, AnthropicError, documented
from ..quotas import interactive_turn
from .schemas import CREATE_BODY, Message
from .streaming import message_stream

router = APIRouter(tags=["anthropic"])
PATH = "/v1/messages"


@router.post(
    PATH,
    response_model=None,
    openapi_extra=CREATE_BODY,
    responses=documented(Message, *AUTHENTICATED, 404, 413, 503, error=AnthropicError, content=SSE),
)
async def create_message(request: Request, services: ServicesDep, who: Writer) -> Response:
    body = await read_json(request)
    chat = _validated(services, body)
    interactive_turn(request, who)
    if body.get("stream"):
        return await message_stream(services, who, request, chat)
    item = await anyio.to_thread.run_sync(services.interactive.submit, who, chat)
    item = await services.interactive.wait(who, item.id, gone=request.is_disconnected)
    raise_for_failure(item)
    return JSONResponse(message_object(item))


def _validated(services: ServicesDep, body: Any) -> dict[str, Any]:
    """The chat body of a Messages request that this server can run (400 naming each problem;
    404 for a model not served here, as Anthropic answers)."""
    chat, problems = anthropic.chat_body(body)
    if chat is None:
        raise _bad_request(problems)
    if services.core.catalog.limits(chat["model"]) is None:
        served = services.core.catalog.describe_served()
        raise NotFound(f"model: {chat['model']} is not served here; served models: {served}")
    return services.interactive.validate(chat)


def _bad_request(problems: list[FieldError]) -> BadRequest:
    return BadRequest(
        "; ".join(str(p) for p in problems), extra=[{"loc": p.field, "message": p.message} for p in problems]
    )
