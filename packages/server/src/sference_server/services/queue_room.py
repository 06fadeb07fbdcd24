"""How many more items each user may queue (``max_queued_items``), within one transaction.

A user's limit and count of queued and running items are read once per transaction, with the
user's row locked (PostgreSQL; SQLite writes one transaction at a time anyway), so that the
submissions of one group commit (store/group_commit.py) are checked one after another against
the same count, and two transactions never both take the last room.
"""

from __future__ import annotations

from ..domain.quotas import MAX_QUEUED_ITEMS
from ..errors import TooManyRequests
from ..security.principal import Principal
from ..store.database import Tx
from ..store.quotas import active_item_count, lock_user_limits

# A client refused for a full queue is told to try again after this many seconds.
QUEUE_RETRY_SECONDS = 30


class QueueRoom:
    def __init__(self, tx: Tx, default_maximum: int) -> None:
        self.tx = tx
        self.default_maximum = default_maximum
        self._users: dict[str, tuple[int, int]] = {}  # user id: (maximum, active); maximum 0: none

    def take(self, who: Principal, adding: int) -> None:
        """Count ``adding`` more items of the user, or a 429 (and nothing counted) when that
        passes their ``max_queued_items``: a submission is taken whole or not at all."""
        maximum, active = self._read(who.user_id)
        if maximum > 0 and active + adding > maximum:
            raise TooManyRequests(
                f"queue limit: user {who.username!r} has {active} items queued or running and may have "
                f"{maximum} (max_queued_items); this submission adds {adding}",
                limit=MAX_QUEUED_ITEMS,
                maximum=maximum,
                retry_after=QUEUE_RETRY_SECONDS,
                queued=active,
                adding=adding,
            )
        self._users[who.user_id] = (maximum, active + adding)

    def give_back(self, who: Principal, adding: int) -> None:
        """Undo a ``take`` whose submission was not written after all."""
        maximum, active = self._users[who.user_id]
        self._users[who.user_id] = (maximum, active - adding)

    def _read(self, user_id: str) -> tuple[int, int]:
        known = self._users.get(user_id)
        if known is not None:
            return known
        own = lock_user_limits(self.tx, user_id)
        maximum = own.max_queued_items if own is not None and own.max_queued_items else self.default_maximum
        active = active_item_count(self.tx, user_id) if maximum > 0 else 0
        self._users[user_id] = (max(maximum, 0), active)
        return self._users[user_id]
