"""Request dependencies: the services and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..security.accounts import require_scope
from ..security.principal import Principal
from ..services import ApiServices


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
    return services(request).accounts.authenticate(bearer_token(request))


def writer(request: Request) -> Principal:
    who = principal(request)
    require_scope(who, "write")
    return who


def reader(request: Request) -> Principal:
    who = principal(request)
    require_scope(who, "read")
    return who


ServicesDep = Annotated[ApiServices, Depends(services)]
Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
