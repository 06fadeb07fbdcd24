"""The ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import __version__
from .api import errors, openapi
from .api.anthropic.routes import router as anthropic_router
from .api.auth.routes import router as auth_router
from .api.batches.routes import router as batches_router
from .api.body_limits import BodyLimits
from .api.decisions.routes import router as decisions_router
from .api.embeddings.routes import router as embeddings_router
from .api.events.routes import router as events_router
from .api.health.routes import router as health_router
from .api.metrics.routes import router as metrics_router
from .api.models.routes import router as models_router
from .api.oauth.routes import router as oauth_router
from .api.openai.routes import router as openai_router
from .api.quotas import EndTurns
from .api.request_ids import RequestIds
from .api.responses.routes import router as responses_router
from .api.security_headers import SecurityHeaders
from .api.streams.routes import router as streams_router
from .api.usage.routes import router as usage_router
from .api.versioning import VersionHeader
from .api.webhooks.routes import router as webhooks_router
from .console import app as console
from .services import ApiServices
from .services.housekeeping import Housekeeping
from .worker.runtime import WorkerRuntime
from .worker.webhooks import Deliverer


def build_app(services: ApiServices, *, run_worker: bool = False) -> FastAPI:
    """The API over ``services``; with ``run_worker`` the process also runs a worker and its
    engines in the same event loop (``sference-server serve``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = services.core.watch_changes()
        host = WorkerRuntime(services.core) if run_worker else None
        housekeeping = Housekeeping(services.core) if host is None else None  # a worker sweeps itself
        deliverer = Deliverer(services.core) if host is None else None  # and sends webhooks itself
        if host is not None:
            await host.start()
        if housekeeping is not None:
            housekeeping.start()
        if deliverer is not None:
            deliverer.start()
        try:
            yield
        finally:
            if deliverer is not None:
                await deliverer.stop()
            if housekeeping is not None:
                await housekeeping.stop()
            if host is not None:
                await host.stop()
            watcher.stop()

    # Swagger UI loads its scripts from a CDN: off unless SFERENCE_API_DOCS (/openapi.json is always served).
    docs_url = "/docs" if services.settings.api_docs else None
    app = FastAPI(
        title="sference",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=docs_url,
        redoc_url=None,
    )
    app.state.services = services
    app.add_middleware(VersionHeader)
    app.add_middleware(EndTurns)  # ends interactive turns (api/quotas.py) once a response is sent
    # Before routing and authentication: a body above its route's limit is refused as it arrives.
    app.add_middleware(BodyLimits, settings=services.settings)
    # Outside the rest: the request id is bound before anything logs, and errors are caught here.
    app.add_middleware(RequestIds)
    # Added last, so outermost: its headers reach every response, errors of other middleware too.
    app.add_middleware(SecurityHeaders, no_csp_paths=[docs_url, f"{docs_url}/oauth2-redirect"] if docs_url else [])
    errors.install(app)
    openapi.install(app)
    # The events route comes before /v1/responses/{response_id}, which would swallow it.
    routers = (
        health_router,
        metrics_router,
        auth_router,
        oauth_router,
        batches_router,
        streams_router,
        events_router,
        responses_router,
        models_router,
        embeddings_router,
        decisions_router,
        openai_router,
        anthropic_router,
        usage_router,
        webhooks_router,
    )
    for router in routers:
        app.include_router(router)
    console.install(app)
    return app
