"""Reading request bodies within a size limit: the one reader every route uses.

The limit is enforced while the body arrives (a declared ``Content-Length`` above it is refused
before reading anything), so an oversized body never sits in memory whole.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

from fastapi import Request

from ..errors import BadRequest, PayloadTooLarge

SPOOL_IN_MEMORY = 16 * 1024 * 1024


def refuse_declared_excess(request: Request, limit: int, setting: str) -> None:
    """Refuse a body whose declared ``Content-Length`` is above ``limit``, before reading it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {int(declared)} bytes; the limit is {limit} bytes ({setting})")


async def _chunks(request: Request, limit: int, setting: str) -> AsyncIterator[bytes]:
    refuse_declared_excess(request, limit, setting)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes ({setting})")
        yield chunk


async def read_body(request: Request, limit: int, setting: str) -> bytes:
    raw = bytearray()
    async for chunk in _chunks(request, limit, setting):
        raw += chunk
    return bytes(raw)


async def read_json(request: Request, limit: int, setting: str) -> Any:
    raw = await read_body(request, limit, setting)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc


@asynccontextmanager
async def spooled_body(request: Request, limit: int, setting: str) -> AsyncIterator[IO[bytes]]:
    """The body in a temporary file (in memory while small), for bodies of any size."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        async for chunk in _chunks(request, limit, setting):
            spool.write(chunk)
        yield spool
