"""HTTP for usage: requests and tokens per user, model and UTC day (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...render.usage import usage_report
from ..deps import Reader, ServicesDep
from ..openapi import AUTHENTICATED, documented
from .schemas import Usage

router = APIRouter(prefix="/v1/usage", tags=["usage"])

Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="a UTC date, YYYY-MM-DD")]


@router.get("", response_model=None, responses=documented(Usage, *AUTHENTICATED, 404))
def get_usage(
    services: ServicesDep,
    who: Reader,
    since: Day = None,
    until: Day = None,
    user_id: Annotated[str | None, Query(description="another user's (administrators)")] = None,
    all_users: Annotated[bool, Query(description="every user's (administrators)")] = False,
    model: Annotated[str | None, Query(description="one model's")] = None,
) -> dict[str, Any]:
    report = services.usage.report(who, since=since, until=until, user_id=user_id, all_users=all_users, model=model)
    return usage_report(report)
