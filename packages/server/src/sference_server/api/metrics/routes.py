"""``GET /metrics``: Prometheus' text format, for scrapers that hold ``SFERENCE_METRICS_TOKEN``
(the API's own keys never open it: a scraper's secret should not be a user's). Off, a 404,
without a token; ``SFERENCE_METRICS_PORT`` serves the same text on an admin port instead."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from ...errors import NotFound, Unauthorized
from ...services.metrics import CONTENT_TYPE, render
from ..deps import ServicesDep, bearer_token

router = APIRouter(include_in_schema=False)


@router.get("/metrics", response_model=None)
def scrape(request: Request, services: ServicesDep) -> Response:
    expected = services.settings.metrics_token
    if expected is None:
        raise NotFound("metrics are not served on this port (docs/operations.md#monitoring)")
    token = bearer_token(request) or ""
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("GET /metrics needs the metrics token (SFERENCE_METRICS_TOKEN) as a bearer token")
    return Response(render(services.metrics_registry), media_type=CONTENT_TYPE)
