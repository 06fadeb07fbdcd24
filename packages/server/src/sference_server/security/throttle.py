"""Decaying scores of failures and requests, kept per key in the store (so every process of one
deployment shares them): each event adds 1 and a score halves every ``half_life`` seconds.

``SignInThrottle`` is the policy of console sign-in; the device flow uses ``DecayingScores``
directly for its per-address request limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import sign_in_failures as store
from ..store.database import Database
from ..timeutil import now

MAX_SCORE = 1024.0  # a score stops growing here, so every row decays to nothing in time
_FORGET_AFTER_HALF_LIVES = 16  # MAX_SCORE / 2**16 < 0.02: a row this old counts for nothing


def decayed(score: float, updated_at: float, current: float, half_life: float) -> float:
    return float(score * 0.5 ** (max(0.0, current - updated_at) / half_life))


def reached(score: float, limit: float) -> bool:
    """Whether ``limit`` events have been counted (a score never quite reaches ``limit`` once time
    passes, so ``limit`` events within a tenth of a half-life or so count as reached)."""
    return score >= limit - 0.5


def address_key(address: str) -> str:
    return f"ip:{address[:120]}"


def user_key(username: str) -> str:
    return f"user:{username[:120]}"


class DecayingScores:
    """The scores of keys starting with one of ``prefixes`` (users of the table with other
    half-lives keep other prefixes, so each forgets only its own rows)."""

    def __init__(self, db: Database, *, half_life: float, prefixes: tuple[str, ...]) -> None:
        self.db = db
        self.half_life = half_life
        self.prefixes = prefixes

    def read(self, keys: list[str]) -> dict[str, float]:
        """The current score of each key (0 for a key never counted)."""
        current = now()
        with self.db.read() as conn:
            rows = store.read(conn, keys)
        return {k: decayed(*rows[k], current, self.half_life) if k in rows else 0.0 for k in keys}

    def add(self, keys: list[str]) -> None:
        """Add 1 to each key's score; forget rows that decayed to nothing (so the table stays
        as small as the recent traffic)."""
        current = now()
        with self.db.write() as conn:
            for key, (score, updated_at) in store.lock(conn, keys, now=current).items():
                fresh = decayed(score, updated_at, current, self.half_life) + 1.0
                store.put(conn, key, score=min(MAX_SCORE, fresh), now=current)
            forget_before = current - _FORGET_AFTER_HALF_LIVES * self.half_life
            store.forget_older_than(conn, forget_before, prefixes=self.prefixes)

    def forget(self, keys: list[str]) -> None:
        with self.db.write() as conn:
            store.forget(conn, keys)


@dataclass(frozen=True)
class SignInLimits:
    per_address: float  # failures an address may have (decayed) before its attempts are refused
    per_user: float  # failures a username may have before attempts from addresses with failures are refused
    half_life: float  # seconds


# An address whose score is below this has had no failure for about a half-life ("a clean record").
CLEAN_BELOW = 0.5


class SignInThrottle:
    """Which sign-in attempts are refused before their password counts.

    Every failed attempt (wrong password, unknown or disabled user, or an attempt refused here)
    adds 1 to the score of its client address and of the username it named. An attempt is
    refused when

    - its address has ``per_address`` failures or more (one address guessing many usernames), or
    - the username has ``per_user`` failures or more **and** the address is not clean (a failure
      within about the last half-life).

    Why the second rule asks about the address: a per-username limit that held for everyone
    would let anybody lock the owner out of their own account (guess ``admin`` five times from
    anywhere, and ``admin`` cannot sign in). Here the owner, signing in from an address that
    has not been failing, is never refused because of someone else's guessing; the guesser's
    addresses are. A guesser with many addresses still gets only one try per address per
    half-life at a throttled username (the first failure makes an address unclean), instead of
    ``per_address`` tries each.

    A refused attempt gets the same answer as a wrong password, after the same work (the caller
    always verifies the password, against a dummy hash for unknown users), so nobody can tell
    a throttled account, an unknown user and a wrong password apart. A successful sign-in
    forgets the username's failures (the owner is back); never the address's, or a guesser with
    an account of their own could wipe their address's record between guesses.
    """

    def __init__(self, db: Database, limits: SignInLimits) -> None:
        self.limits = limits
        self.scores = DecayingScores(db, half_life=limits.half_life, prefixes=(address_key(""), user_key("")))

    def refuses(self, address: str, username: str) -> bool:
        keys = [address_key(address), user_key(username)]
        scores = self.scores.read(keys)
        by_address, by_user = scores[keys[0]], scores[keys[1]]
        if reached(by_address, self.limits.per_address):
            return True
        return reached(by_user, self.limits.per_user) and by_address >= CLEAN_BELOW

    def failed(self, address: str, username: str) -> None:
        self.scores.add([address_key(address), user_key(username)])

    def succeeded(self, username: str) -> None:
        self.scores.forget([user_key(username)])
