"""The wire shape of a usage report (``GET /v1/usage``, ``sference-server usage``): rows per
UTC day, user and model, and their totals. Tokens are named as OpenAI names them: input
(prompt) and output (completion)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from ..domain.usage import UsageCounts
from ..store.usage import UsageDay

# The columns of a row, in order (the operator's CSV has exactly these).
ROW_FIELDS = (
    "date",
    "user_id",
    "username",
    "model",
    "requests",
    "failed",
    "cancelled",
    "expired",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
)


class Report(Protocol):
    """What services/usage.py ``UsageReport`` offers."""

    @property
    def since(self) -> date: ...
    @property
    def until(self) -> date: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def rows(self) -> list[UsageDay]: ...
    @property
    def totals(self) -> UsageCounts: ...


def counts(value: UsageCounts) -> dict[str, int]:
    """``requests``: those that completed (answered); the others by how they ended."""
    return {
        "requests": value.completed,
        "failed": value.failed,
        "cancelled": value.cancelled,
        "expired": value.expired,
        "input_tokens": value.prompt_tokens,
        "output_tokens": value.completion_tokens,
        "cached_tokens": value.cached_tokens,
        "reasoning_tokens": value.reasoning_tokens,
    }


def usage_row(row: UsageDay) -> dict[str, Any]:
    return {"date": row.day, "user_id": row.user_id, "username": row.username, "model": row.model, **counts(row.counts)}


def usage_report(report: Report) -> dict[str, Any]:
    return {
        "object": "usage",
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "user_id": report.user_id,  # None: every user
        "model": report.model,  # None: every model
        "data": rows(report.rows),
        "totals": counts(report.totals),
    }


def rows(days: Sequence[UsageDay]) -> list[dict[str, Any]]:
    return [usage_row(row) for row in days]
