"""Where the CLI keeps things and which server it talks to (the seed's rules)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_BASE_URL = "https://api.sference.com"
DEFAULT_CONSOLE_URL = "https://console.sference.com"


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


def api_key() -> str | None:
    """``SFERENCE_API_KEY`` (when not empty) wins over the credentials file."""
    env = os.environ.get("SFERENCE_API_KEY", "").strip()
    if env:
        return env
    try:
        token = json.loads(credentials_path().read_text()).get("token")
    except (OSError, ValueError, AttributeError):
        return None
    return token.strip() if isinstance(token, str) and token.strip() else None


def save_api_key(key: str) -> Path:
    """Write ``{"token": key}`` readable by the owner only (folder 0700, file 0600)."""
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    scratch = path.with_suffix(".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"token": key}, fh)
        fh.write("\n")
    os.replace(scratch, path)
    return path
