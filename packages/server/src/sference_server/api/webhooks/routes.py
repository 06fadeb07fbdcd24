"""HTTP for webhooks: a user's endpoints, their delivery logs, redelivery and test pings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...render import webhooks as render
from ...render.pages import newest_first
from ..cursors import IdCursor
from ..deps import Reader, ServicesDep, Writer
from ..openapi import AUTHENTICATED, documented
from .schemas import Deleted, Delivery, DeliveryPage, EndpointCreate, EndpointPage, EndpointPatch, NewEndpoint
from .schemas import Endpoint as EndpointBody

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post(
    "/endpoints", status_code=201, response_model=None, responses=documented(NewEndpoint, *AUTHENTICATED, status=201)
)
def create_endpoint(spec: EndpointCreate, services: ServicesDep, who: Writer) -> dict[str, Any]:
    endpoint = services.webhooks.create(who, url=spec.url, events=spec.events, description=spec.description)
    return render.endpoint(endpoint, with_secret=True)


@router.get("/endpoints", response_model=None, responses=documented(EndpointPage, *AUTHENTICATED))
def list_endpoints(services: ServicesDep, who: Reader, limit: Limit = 100, before: IdCursor = None) -> dict[str, Any]:
    return newest_first(services.webhooks.endpoints(who, limit=limit, before=before), limit, render.endpoint)


@router.get("/endpoints/{endpoint_id}", response_model=None, responses=documented(EndpointBody, *AUTHENTICATED, 404))
def get_endpoint(endpoint_id: str, services: ServicesDep, who: Reader) -> dict[str, Any]:
    return render.endpoint(services.webhooks.get(who, endpoint_id))


@router.patch("/endpoints/{endpoint_id}", response_model=None, responses=documented(EndpointBody, *AUTHENTICATED, 404))
def patch_endpoint(endpoint_id: str, change: EndpointPatch, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return render.endpoint(services.webhooks.set_enabled(who, endpoint_id, change.enabled))


@router.delete("/endpoints/{endpoint_id}", response_model=None, responses=documented(Deleted, *AUTHENTICATED, 404))
def delete_endpoint(endpoint_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    services.webhooks.delete(who, endpoint_id)
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


@router.get(
    "/endpoints/{endpoint_id}/deliveries",
    response_model=None,
    responses=documented(DeliveryPage, *AUTHENTICATED, 404),
)
def list_deliveries(
    endpoint_id: str, services: ServicesDep, who: Reader, limit: Limit = 100, before: IdCursor = None
) -> dict[str, Any]:
    rows = services.webhooks.deliveries(who, endpoint_id, limit=limit, before=before)
    return newest_first(rows, limit, render.delivery)


@router.post(
    "/endpoints/{endpoint_id}/test",
    status_code=202,
    response_model=None,
    responses=documented(Delivery, *AUTHENTICATED, 404, status=202),
)
def test_endpoint(endpoint_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return render.delivery(services.webhooks.test(who, endpoint_id))


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=None,
    responses=documented(Delivery, *AUTHENTICATED, 404, status=202),
)
def redeliver(delivery_id: str, services: ServicesDep, who: Writer) -> dict[str, Any]:
    return render.delivery(services.webhooks.redeliver(who, delivery_id))
