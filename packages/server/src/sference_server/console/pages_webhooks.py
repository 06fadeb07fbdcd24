"""Webhooks of the signed-in user: add (the secret shown once) and remove endpoints; per endpoint
its delivery log, a test ping and redelivery."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..domain.webhooks import SUBSCRIBABLE
from ..errors import ServiceError
from ..render import webhooks as wire
from ..render.pages import newest_first
from ..services import ApiServices
from ..store.webhooks import WebhookEndpoint
from .auth import User, as_principal, check_csrf
from .templating import render

router = APIRouter(include_in_schema=False)

PAGE = 50


def _services(request: Request) -> ApiServices:
    return request.app.state.services  # type: ignore[no-any-return]


def _list(
    request: Request,
    user: User,
    *,
    created: WebhookEndpoint | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    endpoints = _services(request).webhooks.endpoints(as_principal(user), limit=PAGE, before=None)
    return render(
        request,
        "webhooks.html",
        status_code=status_code,
        endpoints=[wire.endpoint(e) for e in endpoints[:PAGE]],
        created=created,
        error=error,
        event_types=[e.value for e in SUBSCRIBABLE],
    )


@router.get("/webhooks")
def webhooks(request: Request, user: User) -> Response:
    return _list(request, user)


@router.post("/webhooks")
async def add_endpoint(request: Request, user: User) -> Response:
    form = await request.form()
    check_csrf(user, form.get("csrf_token"))
    url = str(form.get("url", "")).strip()
    events = [str(e) for e in form.getlist("events")]
    description = str(form.get("description", "")).strip()[:500]
    try:
        created = _services(request).webhooks.create(
            as_principal(user), url=url, events=events, description=description
        )
    except ServiceError as exc:
        return _list(request, user, error=exc.detail, status_code=exc.status_code)
    return _list(request, user, created=created)


@router.get("/webhooks/{endpoint_id}")
def endpoint(request: Request, endpoint_id: str, user: User, before: str | None = None) -> Response:
    services, who = _services(request), as_principal(user)
    found = services.webhooks.get(who, endpoint_id)
    log = services.webhooks.deliveries(who, endpoint_id, limit=PAGE, before=before)
    page = newest_first(log, PAGE, wire.delivery)
    live = any(d["status"] == "pending" for d in page["items"])
    return render(request, "webhook.html", endpoint=wire.endpoint(found), page=page, live=live)


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_endpoint(request: Request, endpoint_id: str, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    _services(request).webhooks.delete(as_principal(user), endpoint_id)
    return RedirectResponse("/webhooks", status_code=303)


@router.post("/webhooks/{endpoint_id}/test")
async def test_endpoint(request: Request, endpoint_id: str, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    _services(request).webhooks.test(as_principal(user), endpoint_id)
    return RedirectResponse(f"/webhooks/{endpoint_id}", status_code=303)


@router.post("/webhooks/deliveries/{delivery_id}/redeliver")
async def redeliver(request: Request, delivery_id: str, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    delivery = _services(request).webhooks.redeliver(as_principal(user), delivery_id)
    return RedirectResponse(f"/webhooks/{delivery.endpoint_id}", status_code=303)
