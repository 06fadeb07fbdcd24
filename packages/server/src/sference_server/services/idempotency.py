"""``Idempotency-Key`` on submissions: a client that retries an upload (a timeout, a dropped
connection) with the same key gets the batch its first attempt made, not a second one.

The key is the client's, per user and per API (``scope``), kept for a day. The first submission
records it in the transaction that makes the batch, so a submission that fails leaves no key
behind and two concurrent ones make one batch (the second finds the first's). A key names a
submission: the same key with another body still answers the first batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..errors import BadRequest
from ..security.principal import Principal
from ..store import idempotency as store
from ..store.database import Database, Duplicate, Tx
from ..timeutil import now

HEADER = "Idempotency-Key"
MAX_KEY = 255

T = TypeVar("T")


def check_key(key: str | None) -> str | None:
    """The header's value, or a 400 naming the header."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
        raise BadRequest(f"the {HEADER} header must be 1 to {MAX_KEY} printable ASCII characters")
    return key


class Idempotency:
    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(
        self,
        who: Principal,
        scope: str,
        key: str | None,
        *,
        make: Callable[[Callable[[Tx, str], None] | None], T],
        found: Callable[[str], T],
    ) -> T:
        """``make(record)`` submits, calling ``record(tx, object_id)`` inside its transaction;
        ``found(object_id)`` answers a repeated key with what the first submission made."""
        if key is None:
            return make(None)
        earlier = self._find(who, scope, key)
        if earlier is not None:
            return found(earlier)

        def record(tx: Tx, object_id: str) -> None:
            store.remember(tx, user_id=who.user_id, scope=scope, key=key, object_id=object_id, now=now())

        try:
            return make(record)
        except Duplicate:
            raced = self._find(who, scope, key)
            if raced is None:
                raise
            return found(raced)

    def _find(self, who: Principal, scope: str, key: str) -> str | None:
        with self.db.read() as tx:
            return store.find(tx, user_id=who.user_id, scope=scope, key=key, now=now())
