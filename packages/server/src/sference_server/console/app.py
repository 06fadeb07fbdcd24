"""The console: pages, static assets and how its errors render."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from ..api import errors
from ..errors import ServiceError
from . import pages_auth, pages_keys, pages_usage, pages_users, pages_webhooks, pages_work
from .auth import Forbidden, SignInRequired, sign_in_redirect
from .templating import render


def install(app: FastAPI) -> None:
    for module in (pages_auth, pages_keys, pages_work, pages_usage, pages_users, pages_webhooks):
        app.include_router(module.router)
    app.mount("/static/console", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(exc.next_path)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "error.html", status_code=403, title="Not allowed", message=str(exc))

    # Replaces the API's ServiceError handler (api/errors.py): API paths keep its JSON.
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        if request.url.path.startswith(errors.API_PREFIXES):
            return errors.service_error(request, exc)
        return error_page(request, exc)


def error_page(request: Request, exc: ServiceError) -> Response:
    """Service errors on console pages render as a page, not as the API's JSON."""
    titles = {404: "Not found", 409: "Not possible now"}
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        title=titles.get(exc.status_code, "Something went wrong"),
        message=exc.detail,
    )
