"""Console sign-in under abuse: hashing off the event loop, throttling per address and per
username, one answer for every failure (echo engine, real store, real HTTP)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import update

from sference_server.config import Settings
from sference_server.security import passwords
from sference_server.security.throttle import DecayingScores, SignInLimits, SignInThrottle, address_key, user_key
from sference_server.store.database import Database
from sference_server.store.tables import sign_in_failures
from support.console import csrf_of

from .conftest import PASSWORD, Api

PROXIED = {"trusted_proxies": "127.0.0.1"}  # tests choose their client address with X-Forwarded-For


def attempt(api: Api, username: str, password: str, *, address: str | None = None) -> httpx.Response:
    headers = {"x-forwarded-for": address} if address else {}
    client = httpx.Client(base_url=api.url, headers=headers, timeout=30)
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def error_of(response: httpx.Response) -> str:
    start = response.text.index('role="alert"')
    return response.text[start : response.text.index("<", start)]


@contextmanager
def hashing_paused() -> Iterator[threading.Event]:
    """Hold every thread of the password-hashing pool until the block ends (or the event is set)."""
    release = threading.Event()
    held = [passwords.HASH_POOL.submit(release.wait) for _ in range(passwords.HASH_THREADS)]
    try:
        yield release
    finally:
        release.set()
        for future in held:
            future.result()


def wait_for_queued_hashes(count: int) -> None:
    deadline = time.monotonic() + 20
    while passwords.HASH_POOL._work_queue.qsize() < count:
        assert time.monotonic() < deadline, "the sign-ins never reached the hashing pool"
        time.sleep(0.01)


def test_sign_ins_hash_off_the_event_loop_in_a_small_pool(api: Api) -> None:
    api.person("ann")
    with hashing_paused() as release, ThreadPoolExecutor(20) as clients:
        # A right password, wrong ones and unknown users: every one of them waits for a hash.
        futures: list[Future[httpx.Response]] = [clients.submit(attempt, api, "ann", PASSWORD)]
        futures += [clients.submit(attempt, api, "ann", f"wrong {i}") for i in range(10)]
        futures += [clients.submit(attempt, api, f"nobody{i}", "whatever") for i in range(9)]
        wait_for_queued_hashes(20)
        # The 20 sign-ins are hashing (queued behind the pool's few threads): the loop and the
        # worker threads still answer everything else.
        assert httpx.get(f"{api.url}/v1/health").status_code == 200
        assert httpx.get(f"{api.url}/login").status_code == 200  # a sync route: a worker thread
        assert not any(f.done() for f in futures)
        release.set()
        statuses = [f.result().status_code for f in futures]
    assert statuses == [303] + [401] * 19


@pytest.mark.parametrize("server_overrides", [PROXIED])
def test_a_guessing_run_against_admin_does_not_lock_out_its_owner(api: Api) -> None:
    api.person("admin", role="admin")
    unknown = attempt(api, "nobody", "wrong password", address="198.51.100.7")
    wrong = attempt(api, "admin", "wrong password", address="198.51.100.7")
    for i in range(4):
        attempt(api, "admin", f"guess {i}", address="198.51.100.8")
    # The username has 5 failures now: the guessing addresses are refused even the right password,
    throttled = attempt(api, "admin", PASSWORD, address="198.51.100.8")
    # with the very answer of a wrong password or an unknown user,
    assert unknown.status_code == wrong.status_code == throttled.status_code == 401
    assert error_of(unknown) == error_of(wrong) == error_of(throttled)
    # while the owner, from an address with a clean record, signs in.
    assert attempt(api, "admin", PASSWORD, address="203.0.113.9").status_code == 303
    # Signing in forgot the username's failures: the first guessing address, which failed only
    # once, is no longer refused for someone else's guesses.
    assert attempt(api, "admin", PASSWORD, address="198.51.100.7").status_code == 303


@pytest.mark.parametrize("server_overrides", [{**PROXIED, "sign_in_failures_per_address": 3}])
def test_one_address_guessing_many_usernames_is_refused(api: Api) -> None:
    api.person("ann")
    for name in ("a", "b", "c"):
        assert attempt(api, name, "guess", address="198.51.100.7").status_code == 401
    assert attempt(api, "ann", PASSWORD, address="198.51.100.7").status_code == 401  # ann had no failure
    assert attempt(api, "ann", PASSWORD, address="198.51.100.99").status_code == 303


@pytest.mark.parametrize("server_overrides", [{"sign_in_failures_per_address": 3}])
def test_forwarded_for_counts_only_from_a_trusted_proxy(api: Api) -> None:
    api.person("ann")
    for i in range(3):  # a client that invents a new address for every guess
        attempt(api, f"user{i}", "guess", address=f"198.51.100.{i}")
    assert attempt(api, "ann", PASSWORD, address="203.0.113.9").status_code == 401  # all of it is 127.0.0.1


def test_throttled_attempts_hash_too(api: Api) -> None:
    """The same work for a throttled attempt: it waits for the hashing pool like any other."""
    api.person("ann")
    for i in range(10):
        attempt(api, "ann", f"guess {i}")
    with hashing_paused() as release, ThreadPoolExecutor(1) as clients:
        throttled = clients.submit(attempt, api, "ann", PASSWORD)
        wait_for_queued_hashes(1)
        assert not throttled.done()
        release.set()
        assert throttled.result().status_code == 401


def limits(**overrides: Any) -> SignInLimits:
    return SignInLimits(**{"per_address": 10.0, "per_user": 5.0, "half_life": 600.0, **overrides})


def age(db: Database, seconds: float) -> None:
    """Move every recorded failure ``seconds`` into the past."""
    with db.write() as conn:
        conn.execute(update(sign_in_failures).values(updated_at=sign_in_failures.c.updated_at - seconds))


def test_scores_decay_with_their_half_life(db: Database) -> None:
    throttle = SignInThrottle(db, limits())
    for _ in range(10):
        throttle.failed("198.51.100.7", "admin")
    assert throttle.refuses("198.51.100.7", "admin") and throttle.refuses("198.51.100.7", "someone")
    scores = throttle.scores.read([address_key("198.51.100.7"), user_key("admin")])
    assert all(9.99 < s <= 10 for s in scores.values())
    age(db, 600)  # one half-life: 5 failures left, still refused for admin from this (unclean) address
    assert not throttle.refuses("198.51.100.7", "someone") and throttle.refuses("198.51.100.7", "admin")
    assert not throttle.refuses("203.0.113.9", "admin")  # a clean address is never refused for admin
    age(db, 600)
    assert not throttle.refuses("198.51.100.7", "admin")
    age(db, 16 * 600)
    throttle.failed("203.0.113.9", "bob")  # a write forgets the rows that decayed to nothing
    with db.read() as conn:
        keys = {r.key for r in conn.execute(sign_in_failures.select())}
    assert keys == {address_key("203.0.113.9"), user_key("bob")}


def test_concurrent_failures_are_all_counted(db: Database) -> None:
    throttle = SignInThrottle(db, limits())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: throttle.failed("198.51.100.7", f"user{i % 2}"), range(40)))
    assert throttle.scores.read([address_key("198.51.100.7")])[address_key("198.51.100.7")] > 39.9


def test_other_counts_in_the_table_forget_only_their_own_rows(db: Database) -> None:
    """Device sign-in counts halve every minute; their cleanup must not drop sign-in failures."""
    throttle = SignInThrottle(db, limits())
    for _ in range(10):
        throttle.failed("198.51.100.7", "admin")
    age(db, 30 * 60)  # half an hour: long gone for a one-minute half-life, not for ten minutes
    DecayingScores(db, half_life=60.0, prefixes=("device_",)).add(["device_code:ip:203.0.113.9"])
    key = address_key("198.51.100.7")
    assert 1.2 < throttle.scores.read([key])[key] < 1.3  # 10 failures, three half-lives ago


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies="127.0.0.1, 10.0.0.0/8 ::1").trusted_proxies
    with pytest.raises(ValidationError, match="not-a-proxy"):
        Settings(trusted_proxies="127.0.0.1,not-a-proxy")
