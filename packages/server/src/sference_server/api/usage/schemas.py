"""What the usage API answers (rendered by render/usage.py)."""

from __future__ import annotations

from typing import Literal

from ..openapi import Wire


class UsageCounts(Wire):
    """``requests``: requests that completed (answered); the others by how they ended. Tokens of
    the answered ones: input (of them, ``cached_tokens`` from a prefix cache) and output (of
    them, ``reasoning_tokens`` spent thinking)."""

    requests: int
    failed: int
    cancelled: int
    expired: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int


class UsageRow(UsageCounts):
    """One user's usage of one model on one UTC day."""

    date: str
    user_id: str
    username: str
    model: str


class Usage(Wire):
    object: Literal["usage"]
    since: str
    until: str
    user_id: str | None  # null: every user
    model: str | None  # null: every model
    data: list[UsageRow]  # by date, then username, then model; days without usage have no row
    totals: UsageCounts
