"""Per-user limits: how many requests a minute, interactive requests at once and items queued.

A user's own value wins; ``None`` means the server's default (``config.Settings``), and an
effective value of 0 means no limit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

REQUESTS_PER_MINUTE = "requests_per_minute"
MAX_CONCURRENT_INTERACTIVE = "max_concurrent_interactive"
MAX_QUEUED_ITEMS = "max_queued_items"
LIMIT_NAMES = (REQUESTS_PER_MINUTE, MAX_CONCURRENT_INTERACTIVE, MAX_QUEUED_ITEMS)


@dataclass(frozen=True)
class UserLimits:
    requests_per_minute: int | None = None
    max_concurrent_interactive: int | None = None
    max_queued_items: int | None = None

    def over(self, defaults: UserLimits) -> UserLimits:
        """These values, each unset one taken from ``defaults``."""
        return UserLimits(**{f.name: _first(getattr(self, f.name), getattr(defaults, f.name)) for f in fields(self)})

    def as_dict(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _first(own: int | None, default: int | None) -> int | None:
    return own if own is not None else default
