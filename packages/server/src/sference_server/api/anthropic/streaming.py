"""``stream: true`` on ``/v1/messages``: Anthropic's server-sent events, text piece by piece as
the engine makes it, tool calls at the end (render/anthropic.py ``MessageEvents``).

As for chat completions (api/openai/streaming.py): nothing is sent before the first piece of
text or the end, so a request that fails before it starts gets its HTTP error status; a failure
after that is one last ``error`` event; a client that disconnects cancels the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from ...domain.states import ErrorCode, ItemStatus
from ...errors import ServiceError
from ...render.anthropic import MessageEvents, stream_error
from ...security.principal import Principal
from ..deps import ServicesDep
from ..openai.streaming import SSE_HEADERS, chain, sse_event, started

REQUEST_ERRORS = (ErrorCode.CONTEXT_LENGTH_EXCEEDED, ErrorCode.INVALID_REQUEST)


async def message_stream(services: ServicesDep, who: Principal, request: Request, chat: dict[str, Any]) -> Response:
    item, events, first = await started(services, who, request, chat)
    stream = MessageEvents(item)

    async def body() -> AsyncIterator[bytes]:
        for kind, event in stream.opening():
            yield sse_event(kind, event)
        try:
            async for piece in chain(first, events):
                if isinstance(piece, str):
                    for kind, event in stream.text(piece):
                        yield sse_event(kind, event)
                elif piece.status == ItemStatus.COMPLETED:
                    for kind, event in stream.closing(piece):
                        yield sse_event(kind, event)
                else:
                    error = piece.error
                    status = 400 if error is not None and error.code in REQUEST_ERRORS else 500
                    message = f"{error.code}: {error.message}" if error else f"the request {piece.status.value}"
                    yield sse_event(*stream_error(status, message))
        except ServiceError as exc:
            yield sse_event(*stream_error(exc.status_code, exc.detail))
        finally:
            await events.aclose()

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)
