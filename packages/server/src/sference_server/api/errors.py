"""One renderer for every error: ``{"status_code": int, "detail": str, "extra": ...}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ServiceError, TooManyRequests, Unauthorized
from ..render import anthropic

log = logging.getLogger("sference.api")


def error_response(
    status_code: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"status_code": status_code, "detail": detail, "extra": extra}, status_code=status_code, headers=headers
    )


OPENAI_PREFIX = "/openai/"
ANTHROPIC_PATH = "/v1/messages"  # Anthropic's Messages API (api/anthropic/)
API_PREFIXES = ("/v1/", OPENAI_PREFIX, "/static/", "/metrics")  # paths whose errors are always this JSON
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def render(
    request: Request, status_code: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error body of the surface the request came in on: OpenAI's under /openai/, Anthropic's
    under /v1/messages, ours elsewhere."""
    path = request.url.path
    if path == ANTHROPIC_PATH or path.startswith(f"{ANTHROPIC_PATH}/"):
        return JSONResponse(anthropic.error_body(status_code, detail), status_code=status_code, headers=headers)
    if not path.startswith(OPENAI_PREFIX):
        return error_response(status_code, detail, extra, headers)
    first = extra[0] if isinstance(extra, list) and extra and isinstance(extra[0], dict) else {}
    code = first.get("message") if status_code == 404 or first.get("message") == "model_not_found" else None
    if isinstance(extra, dict) and "limit" in extra:  # TooManyRequests: which limit
        code = extra["limit"]
    error = {
        "message": detail,
        "type": OPENAI_TYPES.get(status_code, "server_error" if status_code >= 500 else "invalid_request_error"),
        "param": first.get("loc"),
        "code": code,
    }
    return JSONResponse({"error": error}, status_code=status_code, headers=headers)


def service_error(request: Request, exc: ServiceError) -> JSONResponse:
    """The API's response to a ServiceError (what ``install`` registers; others may delegate to it)."""
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return render(request, exc.status_code, exc.detail, exc.extra, headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return service_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()
        ]
        detail = "; ".join(f"{p['loc']}: {p['message']}" for p in problems) or "invalid request"
        return render(request, 400, detail, problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return render(request, exc.status_code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render(request, 500, "internal server error; the server log has the details")
