"""Body limits, enforced as the bytes arrive: before authentication, routing and parsing.

An ASGI middleware in front of every route. A request whose declared ``Content-Length`` is above
its route's limit is answered 413 before anything is read; a body that grows past the limit while
it is read (chunked, no ``Content-Length``) is cut off with a 413 at that moment. The JSON bodies
of ordinary routes also pass a ``DepthGuard`` on the way in, so a deeply nested body is refused
(400) before FastAPI or a route parses it, and a NUL character in the URL or in a console form
is refused (400, api/plain_text.py) before it can reach the store.

Limits per route (``limit_for``): batch submissions and file uploads may be large
(``SFERENCE_MAX_BATCH_BYTES``), console forms and device sign-in small
(``SFERENCE_MAX_FORM_BYTES``), everything else ``SFERENCE_MAX_REQUEST_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..errors import PayloadTooLarge, ServiceError
from ..json_input import DepthGuard
from .errors import service_error
from .plain_text import FormText, nul_in_url

# Multipart framing around an uploaded file (the file itself is limited as it is stored).
MULTIPART_SLACK = 64 * 1024
LARGE_BODIES = {("POST", "/v1/batches"), ("POST", "/openai/v1/files")}
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
FORM_LIMIT = "SFERENCE_MAX_FORM_BYTES"


@dataclass(frozen=True)
class BodyLimit:
    bytes: int
    setting: str


def limit_for(settings: Settings, method: str, path: str) -> BodyLimit:
    if (method, path) in LARGE_BODIES:
        slack = MULTIPART_SLACK if path.endswith("/files") else 0
        return BodyLimit(settings.max_batch_bytes + slack, "SFERENCE_MAX_BATCH_BYTES")
    if _is_oauth(path) or not path.startswith(("/v1/", "/openai/")):
        return BodyLimit(settings.max_form_bytes, FORM_LIMIT)
    return BodyLimit(settings.max_request_bytes, "SFERENCE_MAX_REQUEST_BYTES")


def _is_oauth(path: str) -> bool:
    return path.startswith("/v1/oauth/")  # form-encoded or JSON; its route checks the text itself


class _Refused(Exception):
    """Ends the application's handling of a request this middleware has answered."""


class BodyLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(self.settings, scope["method"], scope["path"])
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        early: ServiceError | None = nul_in_url(scope)
        if declared.isdigit() and int(declared) > limit.bytes:
            early = PayloadTooLarge(
                f"the body is {int(declared)} bytes; the limit is {limit.bytes} bytes ({limit.setting})"
            )
        if early is not None:
            await service_error(Request(scope), early)(scope, receive, send)
            return
        content_type = headers.get("content-type", "")
        checks_depth = (scope["method"], scope["path"]) not in LARGE_BODIES and not content_type.startswith(FORMS)
        guard = DepthGuard() if checks_depth else None
        form = FormText(content_type) if limit.setting == FORM_LIMIT and not _is_oauth(scope["path"]) else None
        received = 0
        started = answered = False

        async def refuse(error: ServiceError) -> None:
            nonlocal answered
            if not started:
                answered = True
                await service_error(Request(scope), error)(scope, receive, send)
            raise _Refused

        async def checked_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit.bytes:
                    await refuse(
                        PayloadTooLarge(f"the body exceeds the limit of {limit.bytes} bytes ({limit.setting})")
                    )
                try:
                    if guard is not None:
                        guard.feed(chunk)
                    if form is not None:
                        form.feed(chunk, message.get("more_body", False))
                except ServiceError as exc:
                    await refuse(exc)
            return message

        async def checked_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the application's answer to the aborted request
            started = True
            await send(message)

        try:
            await self.app(scope, checked_receive, checked_send)
        except Exception:
            if not answered:
                raise
