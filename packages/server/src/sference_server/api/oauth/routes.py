"""RFC 8628 device sign-in for command lines: ``POST /v1/oauth/device_code`` and ``/token``.

Bodies may be JSON (what sference-cli sends) or form-encoded (the RFC's default); errors are
RFC 6749 ``{"error", "error_description"}`` with status 400 (429 and ``Retry-After`` for an
address that asks for too many codes).
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ... import json_input
from ...json_input import InvalidJson
from ...security.device_flow import OAuthError
from ..bodies import read_body
from ..client_address import client_address
from ..deps import ServicesDep
from ..openapi import OAuthErrorBody, documented, failures
from .schemas import DEVICE_CODE_BODY, TOKEN_BODY, DeviceCode, Tokens

router = APIRouter(prefix="/v1/oauth", tags=["oauth"])


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_body(request)
    try:
        if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
            fields = parse_qsl(raw.decode(errors="replace"))
            return {key: json_input.check_text(value, key) for key, value in fields}
        body = json_input.loads(raw or b"{}")
    except InvalidJson as exc:
        raise OAuthError("invalid_request", f"the body must be JSON or form-encoded: {exc.detail}") from exc
    if not isinstance(body, dict):
        raise OAuthError("invalid_request", "the body must be an object")
    return body


def _error(exc: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status, headers)


@router.post(
    "/device_code",
    response_model=None,
    openapi_extra=DEVICE_CODE_BODY,
    responses={**documented(DeviceCode, 400, 429, error=OAuthErrorBody), **failures(413)},
)
async def device_code(request: Request, services: ServicesDep) -> Any:
    try:
        body = await _body(request)
        console = services.settings.console_url or str(request.base_url)
        verification = console.rstrip("/") + "/device"
        label = body.get("device_label")
        start = partial(
            services.device_flow.start, address=client_address(request), agent=request.headers.get("user-agent")
        )
        return await anyio.to_thread.run_sync(
            start, str(body.get("client_id") or ""), label if isinstance(label, str) else None, verification
        )
    except OAuthError as exc:
        return _error(exc)


@router.post(
    "/token",
    response_model=None,
    openapi_extra=TOKEN_BODY,
    responses={**documented(Tokens, 400, error=OAuthErrorBody), **failures(413)},
)
async def token(request: Request, services: ServicesDep) -> Any:
    try:
        body = await _body(request)
        exchange = partial(services.device_flow.exchange, address=client_address(request))
        tokens = await anyio.to_thread.run_sync(exchange, body)
    except OAuthError as exc:
        return _error(exc)
    return JSONResponse(tokens, headers={"Cache-Control": "no-store"})
