"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ServicesDep

router = APIRouter(prefix="/v1/health", tags=["health"])


@router.api_route("", methods=["GET", "HEAD"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.api_route("/ready", methods=["GET", "HEAD"])
def ready(services: ServicesDep) -> Any:
    report = services.core.readiness()
    return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)
