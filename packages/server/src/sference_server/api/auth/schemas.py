"""What ``GET /v1/auth/me`` answers (contract §2.6)."""

from __future__ import annotations

from typing import Literal

from ..openapi import Wire


class KeySummary(Wire):
    id: str
    name: str
    prefix: str
    scopes: list[str]


class Me(Wire):
    id: str
    username: str
    role: str
    realtime_enabled: Literal[True]
    api_key: KeySummary
