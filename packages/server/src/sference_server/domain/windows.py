"""Completion windows: how long after acceptance a request may finish."""

from __future__ import annotations

HOUR = 3600.0
BATCH_WINDOWS = {"24h": 24 * HOUR}
STREAM_WINDOWS = {"1h": HOUR, "24h": 24 * HOUR}
RESPONSE_WINDOWS = STREAM_WINDOWS  # metadata.completion_window of a standalone response
DEFAULT_WINDOW = "24h"
