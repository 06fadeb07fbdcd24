"""Reading request bodies: the one reader every route uses.

Size limits are enforced as the body arrives, before this reader runs, by the ``BodyLimits``
middleware (api/body_limits.py); JSON is parsed by the checked parser (json_input.py), which
refuses deep nesting, NUL characters and lone surrogates by name.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

from fastapi import Request

from .. import json_input

SPOOL_IN_MEMORY = 16 * 1024 * 1024


async def read_body(request: Request) -> bytes:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
    return bytes(raw)


async def read_json(request: Request) -> Any:
    return json_input.loads(await read_body(request))


@asynccontextmanager
async def spooled_body(request: Request) -> AsyncIterator[IO[bytes]]:
    """The body in a temporary file (in memory while small), for bodies of any size."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        yield spool
