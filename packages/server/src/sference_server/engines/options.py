"""What every engine's options type shares (importable without any engine)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def refuse_unknown(kind: str, options: dict[str, Any], options_type: type[Any]) -> None:
    """ValueError naming every key of ``options`` that the dataclass ``options_type`` lacks."""
    unknown = set(options) - {f.name for f in fields(options_type)}
    if unknown:
        raise ValueError(f"unknown {kind} options: {', '.join(sorted(unknown))}")
