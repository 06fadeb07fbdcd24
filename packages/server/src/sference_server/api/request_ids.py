"""``X-Request-Id``: every request has an id, taken from the client (or a proxy) when it sends a
sane one and made here otherwise. It is echoed on the response and carried by every log line
logged while the request is handled; its duration goes to the metrics by route template
(``sference_http_request_duration_seconds``), and the access line (logger ``sference.access``, INFO)
closes the request with its method, path (never the query), status and duration. An error no
handler caught is logged here, with the id, and answered with a 500 that carries it."""

from __future__ import annotations

import logging
import re
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import logs, metrics
from ..ids import uuid7
from .errors import render

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")  # what is safe to log and echo as it came

access = logging.getLogger("sference.access")
log = logging.getLogger("sference.api")


def request_id(scope: Scope) -> str:
    """The client's id when it sent a sane one, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            if _SANE.fullmatch(value):
                return bytes(value).decode("ascii")
            break
    return uuid7()


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/batches/{batch_id}``), so the metrics' labels are
    as few as the routes; "unmatched" when no route took the request."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class RequestIds:
    """ASGI middleware: binds the request id for the log, echoes it, writes the access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, rid.encode("ascii"))]
            await send(message)

        with logs.bound(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if status:  # the response began: all that is left is to drop the connection
                    raise
                response = render(Request(scope), 500, "internal server error; the server log has the details")
                await response(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                metrics.REQUEST_SECONDS.labels(route_template(scope), scope["method"], str(status)).observe(seconds)
                if access.isEnabledFor(logging.INFO):
                    fields = {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,  # 0: the connection ended before a response began
                        "duration_ms": round(seconds * 1000, 1),
                    }
                    access.info("%s %s %s", scope["method"], scope["path"], status, extra={"fields": fields})
