"""Users, for administrators: create, reset a password, set limits, disable and enable."""

from __future__ import annotations

from functools import partial

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..domain.quotas import LIMIT_NAMES
from ..errors import ServiceError
from ..security.accounts import check_password
from ..security.passwords import hash_off_loop
from ..services import ApiServices
from ..services.quotas import parse_limit
from .auth import SESSION_COOKIE, Admin, check_csrf
from .templating import render

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, *, message: str | None = None, error: str | None = None, status_code: int = 200
) -> Response:
    services: ApiServices = request.app.state.services
    users = services.accounts.list_users()
    return render(
        request,
        "users.html",
        status_code=status_code,
        users=users,
        limits=services.quotas.own_of_all(),
        defaults=services.quotas.defaults,
        limit_names=LIMIT_NAMES,
        message=message,
        error=error,
    )


@router.get("/users")
def users(request: Request, admin: Admin) -> Response:
    return _page(request)


@router.post("/users")
async def create_user(request: Request, admin: Admin) -> Response:
    form = await request.form()
    check_csrf(admin, form.get("csrf_token"))
    services: ApiServices = request.app.state.services
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    role = "admin" if form.get("role") == "admin" else "user"
    try:
        check_password(password)
        services.accounts.create_user(username, role=role, password_hash=await hash_off_loop(password))
    except ServiceError as exc:
        return _page(request, error=exc.detail, status_code=exc.status_code)
    return _page(request, message=f"Created {role} {username}.")


@router.post("/users/{user_id}/{action}")
async def change_user(request: Request, user_id: str, action: str, admin: Admin) -> Response:
    form = await request.form()
    check_csrf(admin, form.get("csrf_token"))
    services: ApiServices = request.app.state.services
    try:
        if action == "password":
            password = str(form.get("password", ""))
            check_password(password)
            # Changing one's own password keeps this session; every other session and device ends.
            keep = request.cookies.get(SESSION_COOKIE) if user_id == admin.user_id else None
            store = partial(services.accounts.store_password, keep_session=keep)
            await anyio.to_thread.run_sync(store, user_id, await hash_off_loop(password))
            ended = "your other sessions" if keep else "the user's console sessions"
            message = f"Password changed: {ended} and device sign-ins have ended."
        elif action == "limits":
            values = {name: parse_limit(name, str(form.get(name, ""))) for name in LIMIT_NAMES}
            services.quotas.set(user_id, values)
            message = "Limits saved: they apply from the user's next request."
        elif action in ("disable", "enable"):
            if user_id == admin.user_id:
                return _page(request, error="You cannot disable yourself.", status_code=400)
            services.accounts.set_disabled(user_id, action == "disable")
            message = "User disabled: their keys and sessions stop working." if action == "disable" else "User enabled."
        else:
            return _page(request, error=f"Unknown action {action!r}.", status_code=404)
    except ServiceError as exc:
        return _page(request, error=exc.detail, status_code=exc.status_code)
    return _page(request, message=message)
