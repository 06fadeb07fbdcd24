"""List pages: ours (``items`` + ``next_before``, batches and streams) and OpenAI's (``data``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def newest_first(rows: Sequence[Any], limit: int, to_wire: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """``rows`` were read with ``limit + 1``, newest first; the extra row only says more exist."""
    more = len(rows) > limit
    listed = [to_wire(row) for row in rows[:limit]]
    return {"object": "list", "items": listed, "has_more": more, "next_before": listed[-1]["id"] if more else None}


def openai_list(rows: Sequence[Any], limit: int, to_wire: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """OpenAI's list page ``{"object": "list", "data", "has_more", "first_id", "last_id"}`` (the
    responses and the OpenAI-compatible lists), from ``limit + 1`` rows."""
    data = [to_wire(row) for row in rows[:limit]]
    return {
        "object": "list",
        "data": data,
        "has_more": len(rows) > limit,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
