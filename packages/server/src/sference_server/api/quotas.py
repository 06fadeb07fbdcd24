"""Per-user limits on the HTTP API (services/quotas.py): requests per minute on every
authenticated request (``admit``, called by the principal dependency), and a turn for each
interactive request that lasts until its response is sent in full (``interactive_turn``)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..domain.quotas import UserLimits
from ..security.principal import Principal
from ..services import ApiServices

_LIMITS = "sference_limits"  # request.state: the caller's effective limits, once admitted
_ENDINGS = "sference_turn_endings"  # request.state: what EndTurns calls when the response is sent


async def admit(request: Request, who: Principal) -> UserLimits:
    """Count this request once (however many dependencies ask who the caller is). The user's
    limits are read off the event loop only when not read in the last second."""
    limits: UserLimits | None = getattr(request.state, _LIMITS, None)
    if limits is None:
        services: ApiServices = request.app.state.services
        limits = services.quotas.recent(who.user_id)
        if limits is None:
            limits = await anyio.to_thread.run_sync(services.quotas.of, who.user_id)
        limits = services.quotas.admit(who, limits)
        setattr(request.state, _LIMITS, limits)
    return limits


def interactive_turn(request: Request, who: Principal) -> None:
    """Count this request among the caller's interactive requests in flight until its response
    (a stream's too) has been sent or the client went away; a 429 when they have their maximum.
    The request was admitted (``admit``) by its principal dependency."""
    services: ApiServices = request.app.state.services
    limits: UserLimits | None = getattr(request.state, _LIMITS, None)
    if limits is None:
        raise RuntimeError("interactive_turn needs an authenticated request (api/deps.py)")
    end = services.quotas.enter_interactive(who, limits)
    endings: list[Callable[[], None]] | None = getattr(request.state, _ENDINGS, None)
    if endings is None:
        end()
        raise RuntimeError("interactive_turn needs the EndTurns middleware (app.py)")
    endings.append(end)


class EndTurns:
    """ASGI middleware: ends the interactive turns a request took once the app has answered it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endings: list[Callable[[], None]] = []
        scope.setdefault("state", {})[_ENDINGS] = endings
        try:
            await self.app(scope, receive, send)
        finally:
            for end in endings:
                end()
