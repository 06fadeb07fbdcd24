"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ServicesDep
from ..openapi import documented
from .schemas import Health, Readiness

router = APIRouter(prefix="/v1/health", tags=["health"])
READINESS = {**documented(Readiness), 503: {"model": Readiness, "description": "Not ready"}}


@router.get("", response_model=None, responses=documented(Health))
@router.head("", response_model=None, responses=documented(Health))
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", response_model=None, responses=READINESS)
@router.head("/ready", response_model=None, responses=READINESS)
def ready(services: ServicesDep) -> Any:
    report = services.core.readiness()
    return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)
