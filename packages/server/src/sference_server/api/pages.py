"""The ``{"object": "list", "items": [...], "has_more", "next_before"}`` page of batches and streams."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def newest_first(rows: Sequence[Any], limit: int, to_wire: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """``rows`` were read with ``limit + 1``, newest first; the extra row only says more exist."""
    more = len(rows) > limit
    listed = [to_wire(row) for row in rows[:limit]]
    return {"object": "list", "items": listed, "has_more": more, "next_before": listed[-1]["id"] if more else None}
