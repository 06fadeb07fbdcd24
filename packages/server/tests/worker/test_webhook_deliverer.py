"""The deliverer on its own: a real store, a real receiver on loopback, and the address policy
judged on what a host name resolves to (names that only resolve to loopback, such as ``127.1``
or ``2130706433``, pass a check of the URL's text)."""

from __future__ import annotations

import asyncio
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
from support.webhooks import Receiver


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
        assert refused.last_error is not None and "non-public address 127.0.0.1" in refused.last_error
        assert receiver.received == []

        # The same URL where private addresses are allowed: delivered (so the refusal above was the policy's).
        lenient = Core.build(
            echo_settings(tmp_path, database_url, webhook_poll_seconds=0.05, webhook_allow_private=True), db
        )
        delivered = asyncio.run(run_until_attempted(lenient, db, user, queue_test_ping(db, user, url, secret)))
        assert delivered.status == DeliveryStatus.DELIVERED and delivered.last_status_code == 200
        (got,) = receiver.received
        assert got.verified and got.id == delivered.id
