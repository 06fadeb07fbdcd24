"""Which API version answers a request, and the ``Sference-Version`` header that says so.

The version is the key's (``Principal.api_version``) unless the request names one in the
``Sference-Version`` header (a date or ``latest``). Authentication resolves it (api/deps.py) and
keeps it on the request; ``VersionHeader`` writes it on every response of the API's paths, and
the routes whose rendering depends on it take ``deps.Version``.
"""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import versions
from ..errors import BadRequest
from ..security.principal import Principal

STATE_KEY = "api_version"


def resolve_for(request: Request, who: Principal) -> versions.ApiVersion:
    """The version of an authenticated request: the header's, else the key's."""
    named = request.headers.get(versions.HEADER)
    try:
        version = versions.resolve(named) if named else versions.resolve(who.api_version)
    except versions.UnknownVersion as exc:
        raise BadRequest(str(exc), extra=[{"loc": f"header.{versions.HEADER}", "message": "unknown version"}]) from exc
    request.state.api_version = version
    return version


def chosen(request: Request) -> versions.ApiVersion | None:
    """The version authentication settled for this request, if it ran."""
    version = getattr(request.state, STATE_KEY, None)
    return version if isinstance(version, versions.ApiVersion) else None


class VersionHeader:
    """ASGI middleware: ``Sference-Version`` on the responses of ``/v1/`` and ``/openai/`` paths —
    the version that answered, or for a request no key authenticated, the one it asked for (when
    valid) or the default."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/v1/", "/openai/")):
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                version = scope.get("state", {}).get(STATE_KEY) or _asked_for(scope)
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"sference-version", version.name.encode())]
            await send(message)

        await self.app(scope, receive, send_with_version)


def _asked_for(scope: Scope) -> versions.ApiVersion:
    for name, value in scope.get("headers", ()):
        if name == b"sference-version":
            try:
                return versions.resolve(value.decode("latin-1"))
            except versions.UnknownVersion:
                break
    return versions.DEFAULT
