"""API keys are cached for a second: revocation by this process works at once, by another
process within the cache's lifetime."""

from __future__ import annotations

import time

import pytest

from sference_server.errors import Unauthorized
from sference_server.security.accounts import Accounts
from sference_server.store.database import Database


def test_a_key_revoked_here_stops_at_once(db: Database) -> None:
    accounts = Accounts(db)
    user_id = accounts.create_user("ann")
    key = accounts.create_key(user_id)
    assert accounts.authenticate(key.plaintext).user_id == user_id
    accounts.revoke_key(key.id)
    with pytest.raises(Unauthorized, match="revoked"):
        accounts.authenticate(key.plaintext)


def test_a_key_revoked_by_another_process_stops_within_the_cache_lifetime(db: Database) -> None:
    api, other = Accounts(db), Accounts(db)  # two processes' views of one store
    user_id = api.create_user("ann")
    key = api.create_key(user_id)
    api.authenticate(key.plaintext)  # cached
    other.revoke_key(key.id)
    deadline = time.monotonic() + 1.5
    while True:
        try:
            api.authenticate(key.plaintext)
        except Unauthorized:
            break
        assert time.monotonic() < deadline, "a revoked key kept working past the cache's second"
        time.sleep(0.05)


def test_the_event_loop_path_answers_only_from_a_fresh_cache(db: Database) -> None:
    """``authenticate_recent`` (no I/O) answers for a key read in the last second whose last
    use was written; otherwise it defers to ``authenticate``, which reads the store."""
    accounts = Accounts(db)
    user_id = accounts.create_user("ann")
    key = accounts.create_key(user_id)
    assert accounts.authenticate_recent(key.plaintext) is None  # never read
    accounts.authenticate(key.plaintext)  # read, and its last use written
    recent = accounts.authenticate_recent(key.plaintext)
    assert recent is not None and recent.user_id == user_id
    assert accounts.authenticate_recent("sk_made_up_key_0123456789") is None
    accounts.revoke_key(key.id)  # a change made here clears the cache at once
    assert accounts.authenticate_recent(key.plaintext) is None
    with pytest.raises(Unauthorized, match="revoked"):
        accounts.authenticate(key.plaintext)
