"""Per-user limits on the API: requests per minute and interactive requests in flight.

Both are counted in this process (an API process each enforces them on its own share; see
docs/quotas.md). The third limit, items queued, is checked against the store in the submitting
transaction (services/queue_room.py). A user's limits are read from the store at most once a
second per process: a change made by an admin applies at once in the process that made it,
within a second elsewhere (console or command line, any process).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import Settings
from ..domain.quotas import LIMIT_NAMES, MAX_CONCURRENT_INTERACTIVE, REQUESTS_PER_MINUTE, UserLimits
from ..errors import BadRequest, NotFound, TooManyRequests
from ..security.principal import Principal
from ..store import quotas as store
from ..store.database import Database
from ..ttl_cache import TtlCache

# A client told to wait for a free interactive slot tries again after this many seconds.
CONCURRENCY_RETRY_SECONDS = 1


def parse_limit(name: str, text: str) -> int | None:
    """A limit as an admin types it: a positive whole number, or ``default``, 0 or nothing for
    the server's default (None)."""
    text = text.strip().lower()
    if text in ("", "default", "0"):
        return None
    if not text.isdigit():
        raise BadRequest(f"{name} must be a positive whole number or 'default', not {text!r}", extra=[{"loc": name}])
    return int(text)


def default_limits(settings: Settings) -> UserLimits:
    return UserLimits(
        requests_per_minute=settings.requests_per_minute,
        max_concurrent_interactive=settings.max_concurrent_interactive,
        max_queued_items=settings.max_queued_items,
    )


@dataclass
class _Bucket:
    tokens: float
    at: float


class RequestRate:
    """A token bucket per user: up to ``per_minute`` requests at once, refilled at
    ``per_minute / 60`` a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, user_id: str, per_minute: int) -> float:
        """0 if the request may go ahead (and it is counted), else the seconds until it may."""
        rate = per_minute / 60.0
        with self._lock:
            current = self._clock()
            bucket = self._buckets.setdefault(user_id, _Bucket(float(per_minute), current))
            bucket.tokens = min(float(per_minute), bucket.tokens + (current - bucket.at) * rate)
            bucket.at = current
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate


class InFlight:
    """Interactive requests running per user."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, user_id: str, maximum: int) -> Callable[[], None] | None:
        """A function that ends this request's turn (call it once), or None if ``maximum`` are running."""
        with self._lock:
            if self._counts.get(user_id, 0) >= maximum:
                return None
            self._counts[user_id] = self._counts.get(user_id, 0) + 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                left = self._counts.get(user_id, 1) - 1
                if left > 0:
                    self._counts[user_id] = left
                else:
                    self._counts.pop(user_id, None)

        return release

    def count(self, user_id: str) -> int:
        with self._lock:
            return self._counts.get(user_id, 0)


class Quotas:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.defaults = default_limits(settings)
        self.rate = RequestRate()
        self.in_flight = InFlight()
        self._recent: TtlCache[str, UserLimits] = TtlCache()  # cleared by every change made here

    def of(self, user_id: str) -> UserLimits:
        """The user's effective limits (own values, or the defaults), as read in the last second."""
        current = time.monotonic()
        limits = self._recent.get(user_id, current)
        if limits is None:
            limits = self.own(user_id).over(self.defaults)
            self._recent.put(user_id, limits, current)
        return limits

    def recent(self, user_id: str) -> UserLimits | None:
        """``of`` when it needs no read of the store (no I/O: an event loop may call it)."""
        return self._recent.get(user_id, time.monotonic())

    def own(self, user_id: str) -> UserLimits:
        """The user's own values (None each: the default)."""
        with self.db.read() as conn:
            own = store.user_limits(conn, user_id)
        if own is None:
            raise NotFound(f"no user with id {user_id!r}")
        return own

    def own_of_all(self) -> dict[str, UserLimits]:
        """Every user's own values, by user id (the console's users page)."""
        with self.db.read() as conn:
            return store.all_user_limits(conn)

    def set(self, user_id: str, values: dict[str, int | None]) -> UserLimits:
        """Set some of a user's limits: a positive number, or None (or 0) for the default.
        Returns the user's own values after the change."""
        cleaned: dict[str, int | None] = {}
        for name, value in values.items():
            if name not in LIMIT_NAMES:
                raise BadRequest(f"unknown limit {name!r}; limits: {', '.join(LIMIT_NAMES)}")
            if value is not None and value < 0:
                raise BadRequest(f"{name} must be a positive number, or 0 for the default", extra=[{"loc": name}])
            cleaned[name] = value or None
        with self.db.write() as conn:
            if cleaned and not store.set_user_limits(conn, user_id, cleaned):
                raise NotFound(f"no user with id {user_id!r}")
        self._recent.clear()
        return self.own(user_id)

    def admit(self, who: Principal, limits: UserLimits | None = None) -> UserLimits:
        """Count one request against the user's requests per minute, or raise a 429. Returns
        the user's effective limits (``limits``: as the caller read them with ``recent``)."""
        limits = limits or self.of(who.user_id)
        per_minute = limits.requests_per_minute or 0
        if per_minute > 0:
            wait = self.rate.take(who.user_id, per_minute)
            if wait > 0:
                raise TooManyRequests(
                    f"rate limit: user {who.username!r} may send {per_minute} requests a minute "
                    f"(requests_per_minute {per_minute}); retry in {math.ceil(wait)} s",
                    limit=REQUESTS_PER_MINUTE,
                    maximum=per_minute,
                    retry_after=math.ceil(wait),
                )
        return limits

    def enter_interactive(self, who: Principal, limits: UserLimits) -> Callable[[], None]:
        """Start an interactive request (one the client waits for): a function that ends it, or a
        429 when the user already has their maximum running."""
        maximum = limits.max_concurrent_interactive or 0
        if maximum <= 0:
            return lambda: None
        release = self.in_flight.enter(who.user_id, maximum)
        if release is None:
            raise TooManyRequests(
                f"concurrency limit: user {who.username!r} already has {maximum} interactive requests "
                f"running (max_concurrent_interactive {maximum}); retry when one has finished",
                limit=MAX_CONCURRENT_INTERACTIVE,
                maximum=maximum,
                retry_after=CONCURRENCY_RETRY_SECONDS,
                running=maximum,
            )
        return release
