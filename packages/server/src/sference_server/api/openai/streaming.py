"""``stream: true`` on chat completions and responses: the answer as server-sent events, piece
by piece as the engine makes it (services/interactive.py ``follow``).

Nothing is sent until the first piece of text arrives or the request ends, so a request that
fails before it starts (a prompt too long for the model, ...) still gets its HTTP error status.
A failure after that is one last event in the stream. A client that disconnects cancels the
request, on the worker and upstream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from ...domain.states import ItemStatus, Priority
from ...errors import ServiceError
from ...render.openai_chat import ChatChunks, stream_error
from ...render.openai_responses import ResponseEvents
from ...security.principal import Principal
from ...services.interactive import raise_for_failure
from ...store.records import Item
from ..deps import ServicesDep

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_data(document: Any) -> bytes:
    return f"data: {json.dumps(document, separators=(',', ':'))}\n\n".encode()


def sse_event(kind: str, document: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(document, separators=(',', ':'))}\n\n".encode()


async def started(
    services: ServicesDep, who: Principal, request: Request, chat: dict[str, Any], **submit: Any
) -> tuple[Item, AsyncGenerator[str | Item], str | Item]:
    """Queue the request and wait for its first piece of text (or its end)."""
    item, subscription = await services.interactive.start_stream(who, chat, **submit)
    events = services.interactive.follow(who, subscription, gone=request.is_disconnected)
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    if isinstance(first, Item):
        await events.aclose()
        if first.status != ItemStatus.COMPLETED:
            raise_for_failure(first)
    return item, events, first


async def chat_stream(
    services: ServicesDep, who: Principal, request: Request, chat: dict[str, Any], *, include_usage: bool
) -> Response:
    item, events, first = await started(services, who, request, chat)
    chunks = ChatChunks(item, include_usage=include_usage)

    async def body() -> AsyncIterator[bytes]:
        yield sse_data(chunks.opening())
        try:
            async for event in chain(first, events):
                if isinstance(event, str):
                    yield sse_data(chunks.text(event))
                elif event.status == ItemStatus.COMPLETED:
                    for chunk in chunks.closing(event):
                        yield sse_data(chunk)
                else:
                    error = event.error
                    yield sse_data(stream_error(error.code if error else event.status, error.message if error else ""))
        except ServiceError as exc:
            yield sse_data(stream_error("timeout", exc.detail))
        finally:
            await events.aclose()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def response_stream(
    services: ServicesDep,
    who: Principal,
    request: Request,
    chat: dict[str, Any],
    *,
    priority: Priority,
    metadata: dict[str, Any] | None,
) -> Response:
    item, events, first = await started(services, who, request, chat, priority=priority, metadata=metadata)
    stream = ResponseEvents(item)

    async def body() -> AsyncIterator[bytes]:
        for kind, event in stream.opening(item):
            yield sse_event(kind, event)
        try:
            async for piece in chain(first, events):
                if isinstance(piece, str):
                    yield sse_event(*stream.text(piece))
                else:
                    for kind, event in stream.closing(piece):
                        yield sse_event(kind, event)
        except ServiceError as exc:
            yield sse_event("error", {"type": "error", "code": "timeout", "message": exc.detail, "param": None})
        finally:
            await events.aclose()

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def chain(first: str | Item, rest: AsyncGenerator[str | Item]) -> AsyncGenerator[str | Item]:
    yield first
    if isinstance(first, Item):
        return
    async for event in rest:
        yield event
