"""Batches and streams: lists, details, progress, cancel, retry, archive, results."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from ..domain.states import ACTIVE_BATCH_STATUSES, TERMINAL_BATCH_STATUSES
from ..errors import Conflict
from ..render import sference as wire
from ..render.downloads import attachment
from ..render.pages import newest_first
from ..services import ApiServices
from ..services.idempotency import check_key
from .auth import User, as_principal, check_csrf
from .templating import render

router = APIRouter(include_in_schema=False)

PAGE = 50
PROBLEMS_SHOWN = 50
COMPLETIONS_SHOWN = 20


def _services(request: Request) -> ApiServices:
    return request.app.state.services  # type: ignore[no-any-return]


@router.get("/batches")
def batches(request: Request, user: User, before: str | None = None) -> Response:
    listed = _services(request).batches.list(as_principal(user), limit=PAGE, before=before)
    estimates = _services(request).estimates
    page = newest_first(listed, PAGE, lambda b: wire.batch(b, estimates.batch(b)))
    live = any(b["status"] in ACTIVE_BATCH_STATUSES for b in page["items"])
    return render(request, "batches.html", page=page, live=live)


@router.get("/batches/{batch_id}")
def batch(request: Request, batch_id: str, user: User) -> Response:
    services = _services(request)
    found = services.batches.get(as_principal(user), batch_id)
    estimate = services.estimates.batch(found)
    detail = wire.batch(found, estimate)
    problems = [
        {
            "row": r.row_index,
            "custom_id": r.custom_id,
            "status": r.status.value,
            "error": r.error.as_dict() if r.error else None,
        }
        for r in services.batches.problem_rows(batch_id, limit=PROBLEMS_SHOWN)
    ]
    counts = detail["request_counts"]
    unfinished = counts["failed"] + counts["expired"] + counts["cancelled"]
    return render(
        request,
        "batch.html",
        batch=detail,
        problems=problems,
        live=detail["status"] in ACTIVE_BATCH_STATUSES,
        retryable=detail["status"] in TERMINAL_BATCH_STATUSES and unfinished > 0,
        retry_key=uuid.uuid4().hex,  # a second click on the same page makes no second retry
        late=estimate is not None and estimate > found.deadline,
    )


@router.post("/batches/{batch_id}/cancel")
async def cancel_batch(request: Request, batch_id: str, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    try:
        _services(request).batches.cancel(as_principal(user), batch_id)
    except Conflict:
        pass  # it finished meanwhile; the page shows how
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


@router.post("/batches/{batch_id}/retry")
async def retry_batch(request: Request, batch_id: str, user: User) -> Response:
    form = await request.form()
    check_csrf(user, form.get("csrf_token"))
    key = form.get("retry_key")
    retry = partial(
        _services(request).batch_retries.retry,
        as_principal(user),
        batch_id,
        idempotency_key=check_key(key) if isinstance(key, str) else None,
    )
    made = await anyio.to_thread.run_sync(retry)  # reads and writes every row to retry
    return RedirectResponse(f"/batches/{made.id}", status_code=303)


@router.get("/batches/{batch_id}/results.jsonl")
def batch_results(request: Request, batch_id: str, user: User, merged: bool = False) -> StreamingResponse:
    services = _services(request)
    batch = services.batches.get(as_principal(user), batch_id)  # 404 unless it is theirs
    rows = services.batch_retries.merged_rows(batch) if merged else services.batches.iter_rows(batch_id)
    return StreamingResponse(
        wire.result_lines(rows),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": attachment(f"{batch_id}{'-merged' if merged else ''}.jsonl")},
    )


@router.get("/streams")
def streams(request: Request, user: User, before: str | None = None) -> Response:
    listed = _services(request).streams.list(as_principal(user), limit=PAGE, before=before)
    return render(request, "streams.html", page=newest_first(listed, PAGE, wire.stream_summary))


@router.get("/streams/{stream_id}")
def stream(request: Request, stream_id: str, user: User) -> Response:
    services = _services(request)
    who = as_principal(user)
    detail = wire.stream(*services.streams.detail(who, stream_id))
    events, _ = services.events.page(who, stream_id=stream_id, after=None, before=None, limit=COMPLETIONS_SHOWN)
    latest: list[dict[str, Any]] = [wire.event(e) for e in reversed(events)]
    busy = detail["pending_items"] + detail["running_items"] > 0
    return render(request, "stream.html", stream=detail, completions=latest, live=busy)


@router.post("/streams/{stream_id}/{action}")
async def change_stream(request: Request, stream_id: str, action: str, user: User) -> Response:
    check_csrf(user, (await request.form()).get("csrf_token"))
    if action in ("cancel", "archive"):
        status = "cancelled" if action == "cancel" else "archived"
        try:
            _services(request).streams.patch(as_principal(user), stream_id, name=None, status=status)
        except Conflict:
            pass
    return RedirectResponse(f"/streams/{stream_id}", status_code=303)
