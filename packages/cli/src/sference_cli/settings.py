"""Where the CLI keeps things and which server it talks to (the seed's rules)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sference_sdk import API_VERSION, check_api_version
from sference_sdk.statefile import read_object

DEFAULT_BASE_URL = "https://api.sference.com"
DEFAULT_CONSOLE_URL = "https://console.sference.com"
# The key of credentials.json naming the server (API base URL) its credential belongs to.
SERVER_KEY = "base_url"

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


class CredentialOfAnotherServer(ValueError):
    """The saved credential was made for another server than the one this run talks to."""

    def __init__(self, saved_for: str, asked: str) -> None:
        super().__init__(
            f"The saved credential (~/.sference/credentials.json) belongs to {saved_for}, not to {asked}; "
            "it is only ever sent to the server it came from.\n"
            f"  sference auth login --base-url {asked}   # sign in to {asked} (replaces the saved credential)\n"
            f"  export SFERENCE_BASE_URL={saved_for}   # or talk to the server the credential belongs to\n"
            "  export SFERENCE_API_KEY=sk_...           # or give a key for this run"
        )


def same_server(a: str, b: str) -> bool:
    """Two base URLs name the same server: scheme and host compared without case, a trailing
    slash ignored."""
    first, second = urlsplit(a.rstrip("/")), urlsplit(b.rstrip("/"))
    return (first.scheme.lower(), first.netloc.lower(), first.path) == (
        second.scheme.lower(),
        second.netloc.lower(),
        second.path,
    )


def api_key(api_base: str | None = None) -> str | None:
    """``SFERENCE_API_KEY`` (when not empty) wins over the credentials file. A device sign-in
    kept there is refreshed when it expires within a minute (needs ``api_base``).

    The file records the server its credential belongs to (``base_url``); asked for a credential
    for another server, this raises ``CredentialOfAnotherServer`` and sends nothing anywhere. A
    file without one (written by the published CLIs) is bound to the first server it is used with:
    that server is recorded in it then."""
    env = os.environ.get("SFERENCE_API_KEY", "").strip()
    if env:
        return env
    stored = read_object(credentials_path())
    token = stored.get("token") or stored.get("access_token")
    if api_base is not None and isinstance(token, str) and token.strip():
        saved_for = stored.get(SERVER_KEY)
        if not isinstance(saved_for, str) or not saved_for:
            stored = {**stored, SERVER_KEY: api_base}
            save_credentials(stored)
        elif not same_server(saved_for, api_base):
            raise CredentialOfAnotherServer(saved_for, api_base)
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
    save_credentials({**renewed, SERVER_KEY: api_base})
    return str(renewed["access_token"])


def save_api_key(key: str, api_base: str) -> Path:
    return save_credentials({"token": key, SERVER_KEY: api_base})


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
