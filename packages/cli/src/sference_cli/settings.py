"""Where the CLI keeps things and which server it talks to (the seed's rules)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sference_sdk import API_VERSION, check_api_version
from sference_sdk.statefile import read_object

DEFAULT_BASE_URL = "https://api.sference.com"
DEFAULT_CONSOLE_URL = "https://console.sference.com"

# The global --api-version of this run (the CLI runs one command per process).
_chosen_api_version: str | None = None


def home_dir() -> Path:
    return Path(os.path.expanduser("~")) / ".sference"


def credentials_path() -> Path:
    return home_dir() / "credentials.json"


def stream_cache_path() -> Path:
    return Path(os.environ.get("SFERENCE_STREAM_CACHE") or home_dir() / "stream_cache.json")


def base_url(option: str | None) -> str:
    """``--base-url`` if given and not the default; else ``SFERENCE_BASE_URL``; else the default."""
    if option and option.rstrip("/") != DEFAULT_BASE_URL:
        return option.rstrip("/")
    return (os.environ.get("SFERENCE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def choose_api_version(value: str | None) -> str | None:
    """Remember the global ``--api-version`` (already read from ``SFERENCE_API_VERSION`` when not
    given); ValueError unless it is a date or ``latest``."""
    global _chosen_api_version
    _chosen_api_version = check_api_version(value or None)
    return _chosen_api_version


def api_version() -> str:
    """The API version to ask for (``Sference-Version``): ``--api-version``, else
    ``SFERENCE_API_VERSION``, else the one the SDK is written for."""
    chosen = _chosen_api_version or check_api_version(os.environ.get("SFERENCE_API_VERSION") or None)
    return chosen or API_VERSION


def console_url(option: str | None, api_base: str) -> str:
    """``--console-url`` / ``SFERENCE_CONSOLE_URL``; else the API server itself when it is a
    self-hosted one (sference-server serves its console at its root); else the hosted console."""
    if option:
        return option.rstrip("/")
    return api_base if api_base != DEFAULT_BASE_URL else DEFAULT_CONSOLE_URL


def api_key(api_base: str | None = None) -> str | None:
    """``SFERENCE_API_KEY`` (when not empty) wins over the credentials file. A device sign-in
    kept there is refreshed when it expires within a minute (needs ``api_base``)."""
    env = os.environ.get("SFERENCE_API_KEY", "").strip()
    if env:
        return env
    stored = read_object(credentials_path())
    token = stored.get("token") or stored.get("access_token")
    if isinstance(stored.get("refresh_token"), str) and api_base is not None:
        token = _fresh_access_token(stored, api_base)
    return token.strip() if isinstance(token, str) and token.strip() else None


def _fresh_access_token(stored: dict[str, Any], api_base: str) -> str | None:
    from .device import REFRESH_MARGIN_SECONDS, DeviceLoginFailed, credentials, refresh

    if float(stored.get("expires_at", 0)) - time.time() > REFRESH_MARGIN_SECONDS:
        return str(stored.get("access_token"))
    try:
        renewed = credentials(refresh(api_base, str(stored["refresh_token"])))
    except DeviceLoginFailed:
        return None  # the command then says no credential is configured
    save_credentials(renewed)
    return str(renewed["access_token"])


def save_api_key(key: str) -> Path:
    return save_credentials({"token": key})


def save_credentials(payload: dict[str, Any]) -> Path:
    """Write the credentials file readable by the owner only (folder 0700, file 0600)."""
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    scratch = path.with_suffix(".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh)
        fh.write("\n")
    os.replace(scratch, path)
    return path
