"""Usage: requests and tokens per day (a chart) and per model (a table); administrators pick a
user, or everybody."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import ServiceError
from ..services import ApiServices
from .auth import User, as_principal
from .templating import render
from .usage_chart import usage_chart

router = APIRouter(include_in_schema=False)

ALL = "all"  # the user picker's choice of everybody


@router.get("/usage")
def usage(
    request: Request, user: User, since: str | None = None, until: str | None = None, who: str | None = None
) -> Response:
    services: ApiServices = request.app.state.services
    users = services.accounts.list_users() if user.is_admin else []
    chosen = who or user.user_id
    try:
        report = services.usage.report(
            as_principal(user),
            since=since,
            until=until,
            user_id=None if chosen == ALL else chosen,
            all_users=chosen == ALL,
        )
    except ServiceError as exc:
        form = {"since": since or "", "until": until or "", "who": chosen}
        return render(request, "usage.html", status_code=exc.status_code, error=exc.detail, users=users, form=form)
    form = {"since": report.since.isoformat(), "until": report.until.isoformat(), "who": chosen}
    return render(
        request,
        "usage.html",
        users=users,
        form=form,
        report=report,
        chart=usage_chart(report.by_day()),
        models=report.by_model(),
        totals=report.totals,
    )
