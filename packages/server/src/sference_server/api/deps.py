"""Request dependencies: the services and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from ..domain.versions import ApiVersion
from ..security.accounts import require_scope
from ..security.principal import Principal
from ..services import ApiServices
from .quotas import admit
from .versioning import chosen, resolve_for


def services(request: Request) -> ApiServices:
    return request.app.state.services  # type: ignore[no-any-return]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


def principal(request: Request) -> Principal:
    """The caller; also settles which API version answers (api/versioning.py) and counts the
    request against the caller's requests per minute (a 429 past it; api/quotas.py)."""
    who = services(request).accounts.authenticate(bearer_token(request))
    resolve_for(request, who)
    admit(request, who)
    return who


def writer(request: Request) -> Principal:
    who = principal(request)
    require_scope(who, "write")
    return who


def reader(request: Request) -> Principal:
    who = principal(request)
    require_scope(who, "read")
    return who


def api_version(request: Request) -> ApiVersion:
    """The API version that answers this request (the key's, or the Sference-Version header's)."""
    version = chosen(request)
    if version is None:  # not authenticated yet
        principal(request)
        version = chosen(request)
    assert version is not None
    return version


ServicesDep = Annotated[ApiServices, Depends(services)]
Version = Annotated[ApiVersion, Depends(api_version)]
Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
# A submission's ``Idempotency-Key`` header (services/idempotency.py checks it).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
