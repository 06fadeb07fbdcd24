"""Sign-in, sign-out and approving a device (``sference auth login``)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..api.client_address import client_address
from ..security.sessions import SignInFailed
from ..services import ApiServices
from .auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, User, check_csrf, new_login_csrf, safe_next, set_cookie
from .templating import render

router = APIRouter(include_in_schema=False)

# One answer for a wrong password, an unknown user and a throttled attempt (security/throttle.py).
SIGN_IN_FAILED = "Wrong username or password, or too many failed sign-ins from here: try again in a few minutes."


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/batches", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    services: ApiServices = request.app.state.services
    if services.sessions.resolve(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next=safe_next(next))


def _login_form(
    request: Request, *, next: str, error: str | None = None, username: str = "", status_code: int = 200
) -> Response:
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        status_code=status_code,
        next=next,
        error=error,
        username=username,
        csrf_token=token,
        user=None,
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    services: ApiServices = request.app.state.services
    form = await request.form()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "")))
    cookie, submitted = request.cookies.get(LOGIN_CSRF_COOKIE, ""), str(form.get("csrf_token", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        return _login_form(
            request,
            next=next_path,
            username=username,
            status_code=403,
            error="Your sign-in form expired. Please try again.",
        )
    address = client_address(request)
    try:
        token = await services.sessions.sign_in(username, password, address=address)
    except SignInFailed:
        return _login_form(request, next=next_path, username=username, status_code=401, error=SIGN_IN_FAILED)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    services: ApiServices = request.app.state.services
    services.sessions.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/device")
def device_page(request: Request, user: User, code: str = "") -> Response:
    services: ApiServices = request.app.state.services
    pending = services.device_flow.pending(code) if code else None
    return render(request, "device.html", code=code, pending=pending, done=None)


@router.post("/device")
async def device_decide(request: Request, user: User) -> Response:
    form = await request.form()
    check_csrf(user, form.get("csrf_token"))
    services: ApiServices = request.app.state.services
    code, approve = str(form.get("code", "")), form.get("decision") == "approve"
    decided = services.device_flow.decide(code, user.user_id, approve=approve)
    status = ("approved" if approve else "denied") if decided else "unknown"
    return render(request, "device.html", code=code, pending=None, done=status, status_code=200 if decided else 404)
