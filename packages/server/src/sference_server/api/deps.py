"""Request dependencies: the services and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Header, Request

from ..domain.versions import ApiVersion
from ..security.accounts import require_scope
from ..security.principal import Principal
from ..services import ApiServices
from .quotas import admit
from .versioning import chosen, resolve_for


async def services(request: Request) -> ApiServices:
    """The process's services (an async dependency: FastAPI runs it on the event loop, not in a
    thread as it would a plain function)."""
    return _services(request)


def _services(request: Request) -> ApiServices:
    return request.app.state.services  # type: ignore[no-any-return]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


async def principal(request: Request) -> Principal:
    """The caller; also settles which API version answers (api/versioning.py) and counts the
    request against the caller's requests per minute (a 429 past it; api/quotas.py). A key
    read in the last second is checked on the event loop; the store is read in a thread."""
    accounts, token = _services(request).accounts, bearer_token(request)
    who = accounts.authenticate_recent(token)
    if who is None:
        who = await anyio.to_thread.run_sync(accounts.authenticate, token)
    resolve_for(request, who)
    await admit(request, who)
    return who


async def writer(request: Request) -> Principal:
    who = await principal(request)
    require_scope(who, "write")
    return who


async def reader(request: Request) -> Principal:
    who = await principal(request)
    require_scope(who, "read")
    return who


async def api_version(request: Request) -> ApiVersion:
    """The API version that answers this request (the key's, or the Sference-Version header's)."""
    version = chosen(request)
    if version is None:  # not authenticated yet
        await principal(request)
        version = chosen(request)
    assert version is not None
    return version


ServicesDep = Annotated[ApiServices, Depends(services)]
Version = Annotated[ApiVersion, Depends(api_version)]
Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
# A submission's ``Idempotency-Key`` header (services/idempotency.py checks it).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
