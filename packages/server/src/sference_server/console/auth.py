"""Who is signed in to the console, and the CSRF checks on every form."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from ..api.security_headers import is_https
from ..domain.versions import CURRENT
from ..security.principal import Principal
from ..security.sessions import ConsoleUser
from ..services import ApiServices

SESSION_COOKIE = "sference_session"
LOGIN_CSRF_COOKIE = "sference_login_csrf"


class SignInRequired(Exception):
    """Raised by page dependencies; rendered as a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class Forbidden(Exception):
    """A form without a valid CSRF token, or a page for admins only."""


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=is_https(request), path="/")


def console_user(request: Request) -> ConsoleUser:
    services: ApiServices = request.app.state.services
    user = services.sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    request.state.console_user = user
    return user


def admin_user(user: Annotated[ConsoleUser, Depends(console_user)]) -> ConsoleUser:
    if not user.is_admin:
        raise Forbidden("this page is for administrators")
    return user


def check_csrf(user: ConsoleUser, submitted: object) -> None:
    if not isinstance(submitted, str) or not hmac.compare_digest(submitted.encode(), user.csrf_token.encode()):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")


def as_principal(user: ConsoleUser) -> Principal:
    """The console acts for its user with the rights of a read-write key."""
    return Principal(
        user_id=user.user_id,
        username=user.username,
        role=user.role,
        key_id="console",
        key_name="console session",
        key_prefix="console",
        scopes=frozenset({"read", "write"}),
        api_version=CURRENT.name,  # the console renders what it reads itself
    )


def safe_next(value: str | None) -> str:
    """Only local paths: never redirect to another site after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/batches"


def sign_in_redirect(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_path)}", status_code=303)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


User = Annotated[ConsoleUser, Depends(console_user)]
Admin = Annotated[ConsoleUser, Depends(admin_user)]
