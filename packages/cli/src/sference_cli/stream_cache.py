"""The resumable cache of ``batch stream``: input-file hash -> the batch it started.

File: ``SFERENCE_STREAM_CACHE`` or ``~/.sference/stream_cache.json``, a JSON object
``{"<sha256 of the input bytes>": {"batch_id", "base_url", "created_at"}}``. An unreadable file
counts as empty.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .settings import stream_cache_path


def file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load() -> dict[str, Any]:
    try:
        data = json.loads(stream_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(data: dict[str, Any]) -> None:
    path = stream_cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(scratch, path)


def lookup(key: str, base_url: str) -> str | None:
    entry = _load().get(key)
    if isinstance(entry, dict) and entry.get("base_url") == base_url and isinstance(entry.get("batch_id"), str):
        return str(entry["batch_id"])
    return None


def remember(key: str, batch_id: str, base_url: str) -> None:
    data = _load()
    data[key] = {"batch_id": batch_id, "base_url": base_url, "created_at": datetime.now(UTC).isoformat()}
    _store(data)


def forget(key: str) -> None:
    data = _load()
    if data.pop(key, None) is not None:
        _store(data)
