"""Completion windows: how long after acceptance a request may finish."""

from __future__ import annotations

BATCH_WINDOWS = {"24h": 24 * 3600.0}


def window_seconds(window: str, allowed: dict[str, float]) -> float | None:
    return allowed.get(window)
