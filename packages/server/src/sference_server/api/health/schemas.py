"""What the health probes answer."""

from __future__ import annotations

from typing import Literal

from ..openapi import Wire


class Health(Wire):
    status: Literal["ok"]


class Readiness(Wire):
    """``store``: ``ok`` or why not; ``engines``: each model's engine state (and ``replicas``
    where an engine has several)."""

    status: Literal["ready", "not_ready"]
    store: str
    engines: dict[str, str]
