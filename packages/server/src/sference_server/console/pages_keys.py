"""API keys (and device sign-ins) of the signed-in user."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..domain import versions
from ..errors import ServiceError
from ..services import ApiServices
from ..timeutil import now
from .auth import User, check_csrf
from .templating import render

router = APIRouter(include_in_schema=False)

EXPIRIES = {"never": None, "7d": 7, "30d": 30, "90d": 90}


def _page(
    request: Request, user: User, *, created: object = None, error: str | None = None, status_code: int = 200
) -> Response:
    services: ApiServices = request.app.state.services
    keys = services.accounts.list_keys(user_id=user.user_id)
    grants = services.device_flow.devices(user.user_id)
    return render(
        request,
        "api_keys.html",
        status_code=status_code,
        keys=keys[::-1],
        grants=grants,
        created=created,
        error=error,
        expiries=list(EXPIRIES),
        versions=list(versions.VERSIONS.values()),
        default_version=versions.DEFAULT.name,
        limits=services.quotas.of(user.user_id),
    )


@router.get("/api-keys")
def api_keys(request: Request, user: User) -> Response:
    return _page(request, user)


@router.post("/api-keys")
async def create_key(request: Request, user: User) -> Response:
    form = await request.form()
    check_csrf(user, form.get("csrf_token"))
    services: ApiServices = request.app.state.services
    name = str(form.get("name", "")).strip()
    scopes = "read" if form.get("access") == "read" else "read write"
    days = EXPIRIES.get(str(form.get("expires", "never")))
    if not name or len(name) > 200:
        return _page(request, user, error="Give the key a name (at most 200 characters).", status_code=400)
    try:
        key = services.accounts.create_key(
            user.user_id,
            name=name,
            scopes=scopes,
            expires_at=None if days is None else now() + days * 86400,
            api_version=str(form.get("api_version") or versions.DEFAULT.name),
        )
    except ServiceError as exc:
        return _page(request, user, error=exc.detail, status_code=exc.status_code)
    return _page(request, user, created=key)


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    services: ApiServices = request.app.state.services
    mine = {row.id for row in services.accounts.list_keys(user_id=user.user_id)}
    if key_id in mine:
        services.accounts.revoke_key(key_id)
    return RedirectResponse("/api-keys", status_code=303)


@router.post("/api-keys/{key_id}/version")
async def set_key_version(key_id: str, request: Request, user: User) -> Response:
    form = await request.form()
    check_csrf(user, form.get("csrf_token"))
    services: ApiServices = request.app.state.services
    try:
        services.accounts.set_key_version(key_id, str(form.get("api_version", "")), user_id=user.user_id)
    except ServiceError as exc:
        return _page(request, user, error=exc.detail, status_code=exc.status_code)
    return RedirectResponse("/api-keys", status_code=303)


@router.post("/api-keys/devices/{grant_id}/revoke")
async def revoke_device(grant_id: str, request: Request, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    services: ApiServices = request.app.state.services
    services.device_flow.sign_out_device(user.user_id, grant_id)
    return RedirectResponse("/api-keys", status_code=303)
