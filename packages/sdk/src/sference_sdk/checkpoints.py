"""Where a consumer of the events feed got to, kept in a file so a restart resumes there.

File: ``SFERENCE_STREAM_CHECKPOINTS`` or ``~/.sference/stream_checkpoints.json``; a JSON object
``{"<base_url>:<stream_id or __responses_events__>:<consumer>": {"last_completion_id", "updated_at"}}``
(sorted keys, indented). Entries written by older clients under ``last_event_id`` are read too.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NO_STREAM = "__responses_events__"


def checkpoints_path() -> Path:
    configured = os.environ.get("SFERENCE_STREAM_CHECKPOINTS")
    return Path(configured) if configured else Path(os.path.expanduser("~")) / ".sference" / "stream_checkpoints.json"


def _key(base_url: str, stream_id: str | None, consumer_name: str) -> str:
    return f"{base_url.rstrip('/')}:{stream_id or NO_STREAM}:{consumer_name}"


def _load() -> dict[str, Any]:
    try:
        data = json.loads(checkpoints_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(data: dict[str, Any]) -> None:
    path = checkpoints_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(scratch, path)


def load_checkpoint(base_url: str, stream_id: str | None, consumer_name: str) -> str | None:
    entry = _load().get(_key(base_url, stream_id, consumer_name))
    if not isinstance(entry, dict):
        return None
    value = entry.get("last_completion_id") or entry.get("last_event_id")
    return value if isinstance(value, str) else None


def save_checkpoint(base_url: str, stream_id: str | None, consumer_name: str, last_completion_id: str) -> None:
    data = _load()
    data[_key(base_url, stream_id, consumer_name)] = {
        "last_completion_id": last_completion_id,
        "updated_at": datetime.now(UTC).isoformat(),
    }
    _store(data)


def clear_checkpoint(base_url: str, stream_id: str | None, consumer_name: str) -> None:
    data = _load()
    if data.pop(_key(base_url, stream_id, consumer_name), None) is not None:
        _store(data)
