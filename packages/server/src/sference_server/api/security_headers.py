"""Security headers on every response (ASGI middleware), and the console's stricter policy.

Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
``X-Frame-Options: DENY`` and, when the request came over HTTPS (directly, or through a proxy that
says so in ``X-Forwarded-Proto``), ``Strict-Transport-Security``. Responses that set no
``Content-Security-Policy`` get ``API_CSP`` (nothing to load, no framing); console pages set
``CONSOLE_CSP`` themselves (console/templating.py), which this middleware leaves alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"

# Console pages: own scripts, styles and forms only; no <base> tag, no framing.
CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# Everything else (JSON, event streams, files): a browser that renders one loads nothing from it.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def is_https(request: Request) -> bool:
    """The request reached us over HTTPS, or a proxy in front says it reached the proxy so."""
    return _scheme_is_https(request.url.scheme, request.headers)


def _scheme_is_https(scheme: str, headers: Mapping[str, str]) -> bool:
    return scheme == "https" or headers.get("x-forwarded-proto", "").lower() == "https"


def headers_for(*, https: bool, present: Iterable[str]) -> list[tuple[str, str]]:
    """The headers to add to a response that already has the (lower-case) names in ``present``."""
    have = set(present)
    added = [(name, value) for name, value in COMMON_HEADERS.items() if name.lower() not in have]
    if "content-security-policy" not in have:
        added.append(("Content-Security-Policy", API_CSP))
    if https and "strict-transport-security" not in have:
        added.append(("Strict-Transport-Security", HSTS))
    return added


class SecurityHeaders:
    """ASGI middleware adding ``headers_for`` to every HTTP response. ``no_csp_paths``: pages that
    load scripts from elsewhere (Swagger UI at ``/docs``, when turned on) get no default policy."""

    def __init__(self, app: ASGIApp, no_csp_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.no_csp_paths = frozenset(no_csp_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = _scheme_is_https(scope.get("scheme", "http"), Headers(scope=scope))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.decode("latin-1").lower() for name, _ in raw}
                if scope["path"] in self.no_csp_paths:
                    present.add("content-security-policy")
                extra = headers_for(https=https, present=present)
                message["headers"] = raw + [(n.lower().encode(), v.encode()) for n, v in extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
