"""Where to connect, with which credential, and for which API version."""

from __future__ import annotations

import os
import re

DEFAULT_BASE_URL = "https://api.sference.com"
DEFAULT_TIMEOUT = 30.0

# The API version this SDK is written for: sent as ``Sference-Version`` on every request unless a
# client is made with ``api_version=None`` (then the server answers with the key's version).
API_VERSION = "2026-11-01"
API_VERSION_HEADER = "sference-version"
LATEST_API_VERSION = "latest"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def resolve_base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get("SFERENCE_BASE_URL") or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    if api_key:
        return api_key
    env = os.environ.get("SFERENCE_API_KEY", "").strip()
    return env or None


def check_api_version(api_version: str | None) -> str | None:
    """A date (``YYYY-MM-DD``), ``latest``, or None; anything else is a ValueError."""
    if api_version is None:
        return None
    value = api_version.strip()
    if value.lower() == LATEST_API_VERSION:
        return LATEST_API_VERSION
    if not _DATE.fullmatch(value):
        raise ValueError(f"an API version is a date (YYYY-MM-DD) or {LATEST_API_VERSION!r}; got {api_version!r}")
    return value
