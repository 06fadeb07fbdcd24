"""The resumable cache of ``batch stream``: input-file hash -> the batch it started.

File: ``SFERENCE_STREAM_CACHE`` or ``~/.sference/stream_cache.json``, a JSON object
``{"<sha256 of the input bytes>": {"batch_id", "base_url", "created_at"}}``. An unreadable file
counts as empty.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from sference_sdk.statefile import read_object, write_object

from .settings import stream_cache_path


def file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lookup(key: str, base_url: str) -> str | None:
    entry = read_object(stream_cache_path()).get(key)
    if isinstance(entry, dict) and entry.get("base_url") == base_url and isinstance(entry.get("batch_id"), str):
        return str(entry["batch_id"])
    return None


def remember(key: str, batch_id: str, base_url: str) -> None:
    data = read_object(stream_cache_path())
    data[key] = {"batch_id": batch_id, "base_url": base_url, "created_at": datetime.now(UTC).isoformat()}
    write_object(stream_cache_path(), data)


def forget(key: str) -> None:
    data = read_object(stream_cache_path())
    if data.pop(key, None) is not None:
        write_object(stream_cache_path(), data)
