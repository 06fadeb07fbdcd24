"""Where a consumer of the events feed got to, kept in a file so a restart resumes there.

File: ``SFERENCE_STREAM_CHECKPOINTS`` or ``~/.sference/stream_checkpoints.json``; a JSON object
``{"<base_url>:<stream_id or __responses_events__>:<consumer>": {"last_completion_id", "updated_at"}}``
(sorted keys, indented). Entries written by older clients under ``last_event_id`` are read too.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from .statefile import read_object, write_object

NO_STREAM = "__responses_events__"


def checkpoints_path() -> Path:
    configured = os.environ.get("SFERENCE_STREAM_CHECKPOINTS")
    return Path(configured) if configured else Path(os.path.expanduser("~")) / ".sference" / "stream_checkpoints.json"


def _key(base_url: str, stream_id: str | None, consumer_name: str) -> str:
    return f"{base_url.rstrip('/')}:{stream_id or NO_STREAM}:{consumer_name}"


def load_checkpoint(base_url: str, stream_id: str | None, consumer_name: str) -> str | None:
    entry = read_object(checkpoints_path()).get(_key(base_url, stream_id, consumer_name))
    if not isinstance(entry, dict):
        return None
    value = entry.get("last_completion_id") or entry.get("last_event_id")
    return value if isinstance(value, str) else None


def save_checkpoint(base_url: str, stream_id: str | None, consumer_name: str, last_completion_id: str) -> None:
    data = read_object(checkpoints_path())
    data[_key(base_url, stream_id, consumer_name)] = {
        "last_completion_id": last_completion_id,
        "updated_at": datetime.now(UTC).isoformat(),
    }
    write_object(checkpoints_path(), data)


def clear_checkpoint(base_url: str, stream_id: str | None, consumer_name: str) -> None:
    data = read_object(checkpoints_path())
    if data.pop(_key(base_url, stream_id, consumer_name), None) is not None:
        write_object(checkpoints_path(), data)
