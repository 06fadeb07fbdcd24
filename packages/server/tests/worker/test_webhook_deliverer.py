"""The deliverer on its own: a real store, a real receiver on loopback, and the address policy
judged on what a host name resolves to (names that only resolve to loopback, such as ``127.1``
or ``2130706433``, pass a check of the URL's text)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sference_server.core import Core
from sference_server.domain.webhooks import DeliveryStatus, EventType
from sference_server.ids import uuid7
from sference_server.security.webhooks import new_secret
from sference_server.store import webhooks as store
from sference_server.store.database import Database
from sference_server.timeutil import now
from sference_server.worker.webhooks import Deliverer
from support.settings import echo_settings
from support.webhooks import Receiver, Trickler


def queue_test_ping(db: Database, user_id: str, url: str, secret: str) -> str:
    endpoint = store.WebhookEndpoint(uuid7(), user_id, url, secret, ("batch.completed",), "", True, now())
    with db.write() as tx:
        store.insert_endpoint(tx, endpoint)
        event = store.WebhookEvent(user_id, EventType.TEST, endpoint.id)
        (delivery_id,) = store.enqueue(
            tx, [event], now=now(), endpoint_id=endpoint.id, payload='{"type":"webhook.test"}'
        )
    return delivery_id


async def run_until_attempted(core: Core, db: Database, user_id: str, delivery_id: str) -> store.WebhookDelivery:
    deliverer = Deliverer(core)
    deliverer.start()
    try:
        for _ in range(200):
            with db.read() as tx:
                row = store.get_delivery(tx, delivery_id, user_id=user_id)
            assert row is not None
            if row.last_attempt_at is not None:
                return row
            await asyncio.sleep(0.05)
        raise AssertionError("no attempt was made")
    finally:
        await deliverer.stop()


@pytest.mark.parametrize("host", ["127.1", "2130706433"])
def test_a_name_that_resolves_to_loopback_is_refused_when_private_addresses_are(
    tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]], host: str
) -> None:
    user, _ = make_user("ann")
    secret = new_secret()
    with Receiver() as receiver:
        receiver.secret = secret
        url = f"http://{host}:{receiver.port}/hook"
        strict = Core.build(
            echo_settings(tmp_path, database_url, webhook_poll_seconds=0.05, webhook_retry_seconds=[600]), db
        )
        refused = asyncio.run(run_until_attempted(strict, db, user, queue_test_ping(db, user, url, secret)))
        assert refused.status == DeliveryStatus.PENDING and refused.last_status_code is None
        # Which address is not said: users read this error, and it would map the internal DNS.
        assert refused.last_error is not None and "resolves to a private address" in refused.last_error
        assert "127.0.0.1" not in refused.last_error
        assert receiver.received == []

        # The same URL where private addresses are allowed: delivered (so the refusal above was the policy's).
        lenient = Core.build(
            echo_settings(tmp_path, database_url, webhook_poll_seconds=0.05, webhook_allow_private=True), db
        )
        delivered = asyncio.run(run_until_attempted(lenient, db, user, queue_test_ping(db, user, url, secret)))
        assert delivered.status == DeliveryStatus.DELIVERED and delivered.last_status_code == 200
        (got,) = receiver.received
        assert got.verified and got.id == delivered.id


def delivery(db: Database, user_id: str, delivery_id: str) -> store.WebhookDelivery:
    with db.read() as tx:
        row = store.get_delivery(tx, delivery_id, user_id=user_id)
    assert row is not None
    return row


async def run_until(core: Core, check: Callable[[], bool], *, timeout: float = 10.0) -> float:
    """Run a deliverer until ``check()`` holds; the seconds that took."""
    deliverer = Deliverer(core)
    started = time.monotonic()
    deliverer.start()
    try:
        while not check():
            assert time.monotonic() - started < timeout, "the deliverer did not get there in time"
            await asyncio.sleep(0.05)
        return time.monotonic() - started
    finally:
        await deliverer.stop()


@pytest.mark.parametrize(
    ("allow_private", "bad_url", "fragment"),
    [
        # Resolved by the address check, where the standard library's IDNA codec raises UnicodeError.
        (False, "https://" + "a" * 64 + ".example.com/hook", "host name that is not valid"),
        # Sent as it is: httpx raises InvalidURL, which is not one of its HTTPErrors.
        (True, "http://\N{SNOWMAN}.example.com/hook", "failed unexpectedly (InvalidURL"),
    ],
)
def test_an_endpoint_whose_attempt_raises_fails_alone_and_the_others_are_recorded(
    tmp_path: Path,
    database_url: str,
    db: Database,
    make_user: Callable[..., tuple[str, str]],
    allow_private: bool,
    bad_url: str,
    fragment: str,
) -> None:
    """Such URLs are refused at registration now; one stored before must not stop the deliverer,
    and it reaches ``failed`` (a retry window shorter than any retry) instead of being claimed
    again for ever."""
    user, _ = make_user("ann")
    secret = new_secret()
    with Receiver() as receiver:
        receiver.secret = secret
        settings = echo_settings(
            tmp_path,
            database_url,
            webhook_poll_seconds=0.05,
            webhook_retry_window_seconds=0.001,
            webhook_allow_private=allow_private,
        )
        bad = queue_test_ping(db, user, bad_url, secret)
        good = queue_test_ping(db, user, receiver.url, secret)
        core = Core.build(settings, db)
        asyncio.run(run_until(core, lambda: all(delivery(db, user, i).status != "pending" for i in (bad, good))))
        failed = delivery(db, user, bad)
        assert failed.status == DeliveryStatus.FAILED and failed.attempts == 1 and failed.last_status_code is None
        assert failed.last_error is not None and fragment in failed.last_error, failed.last_error
        other = delivery(db, user, good)
        assert other.attempts == 1 and other.last_attempt_at is not None
        if allow_private:
            assert other.status == DeliveryStatus.DELIVERED and len(receiver.received) == 1
        else:  # on loopback: refused by the policy, and recorded as such
            assert other.status == DeliveryStatus.FAILED and other.last_error is not None
            assert "private address" in other.last_error and receiver.received == []


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_timeout_and_holds_up_nobody(
    tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """httpx's timeout bounds each read; the trickler never lets one wait more than 0.2 s. The
    attempt as a whole is bounded, and the quick delivery claimed with it is recorded at once."""
    user, _ = make_user("ann")
    secret = new_secret()
    with Receiver() as receiver, Trickler(every=0.2) as trickler:
        receiver.secret = secret
        settings = echo_settings(
            tmp_path,
            database_url,
            webhook_poll_seconds=0.05,
            webhook_timeout_seconds=3,
            webhook_retry_seconds=[600],
            webhook_allow_private=True,
        )
        slow = queue_test_ping(db, user, trickler.url, secret)
        quick = queue_test_ping(db, user, receiver.url, secret)
        core = Core.build(settings, db)

        async def both() -> tuple[float, float]:
            deliverer = Deliverer(core)
            started = time.monotonic()
            deliverer.start()
            try:
                while delivery(db, user, quick).status != DeliveryStatus.DELIVERED:
                    assert time.monotonic() - started < 10, "the quick delivery was not recorded"
                    await asyncio.sleep(0.02)
                quick_at = time.monotonic() - started
                assert delivery(db, user, slow).last_attempt_at is None  # still being sent
                while delivery(db, user, slow).last_attempt_at is None:
                    assert time.monotonic() - started < 10, "the slow attempt was never cut off"
                    await asyncio.sleep(0.02)
                return quick_at, time.monotonic() - started
            finally:
                await deliverer.stop()

        quick_at, slow_at = asyncio.run(both())
        assert quick_at < 3.0 <= slow_at < 6.0, (quick_at, slow_at)
        cut = delivery(db, user, slow)
        assert cut.status == DeliveryStatus.PENDING and cut.attempts == 1 and cut.last_status_code is None
        assert cut.last_error == "no answer within 3 s (SFERENCE_WEBHOOK_TIMEOUT_SECONDS)"
        assert trickler.connections == 1


def test_a_claim_outlasts_the_attempt_timeout(
    tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """With a timeout longer than the default lease, another deliverer must not claim (and send
    again) a delivery still in flight: the lease is the timeout and a margin."""
    user, _ = make_user("ann")
    secret = new_secret()
    with Trickler() as trickler:
        settings = echo_settings(
            tmp_path, database_url, webhook_poll_seconds=0.05, webhook_timeout_seconds=300, webhook_allow_private=True
        )
        held = queue_test_ping(db, user, trickler.url, secret)
        asyncio.run(run_until(Core.build(settings, db), lambda: trickler.connections == 1))
        row = delivery(db, user, held)
    assert row.attempts == 1 and row.last_attempt_at is None
    assert row.next_attempt_at >= row.created_at + 300 + 60
