"""Small JSON state files kept by clients (checkpoints, caches): read forgivingly, write atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; an absent, unreadable or non-object file reads as empty."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_object(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` (indented, sorted keys), never leaving a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(scratch, path)
