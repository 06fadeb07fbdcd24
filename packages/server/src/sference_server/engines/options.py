"""What every engine's options type shares (importable without any engine)."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any


def refuse_unknown(kind: str, options: dict[str, Any], options_type: type[Any]) -> None:
    """ValueError naming every key of ``options`` that the dataclass ``options_type`` lacks."""
    unknown = set(options) - {f.name for f in fields(options_type)}
    if unknown:
        raise ValueError(f"unknown {kind} options: {', '.join(sorted(unknown))}")


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity): the default number of engine threads."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
