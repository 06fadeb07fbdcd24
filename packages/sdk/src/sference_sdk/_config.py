"""Where to connect and with which credential."""

from __future__ import annotations

import os

DEFAULT_BASE_URL = "https://api.sference.com"
DEFAULT_TIMEOUT = 30.0


def resolve_base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get("SFERENCE_BASE_URL") or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    if api_key:
        return api_key
    env = os.environ.get("SFERENCE_API_KEY", "").strip()
    return env or None
