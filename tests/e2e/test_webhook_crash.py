"""Webhooks survive a crash: the server is killed with SIGKILL after a batch finished but before
its webhook could be delivered (the receiver was down), and the delivery still arrives, signed
and with the same ``webhook-id``, once a server runs again and the receiver is back."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from support.batches import chat_row, document, wait_terminal
from support.settings import ECHO_MODEL
from support.webhooks import Receiver

from .conftest import Start

pytestmark = pytest.mark.slow
KEY = "sk_e2e_admin_key_0123456789abcdef"


def env(database_url: str) -> dict[str, str]:
    return {
        "SFERENCE_DATABASE_URL": database_url,
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_POLL_SECONDS": "0.1",
        "SFERENCE_MODELS": json.dumps([{"id": ECHO_MODEL, "engine": "echo"}]),
        "SFERENCE_WEBHOOK_ALLOW_PRIVATE": "1",
        "SFERENCE_WEBHOOK_RETRY_SECONDS": "[1]",
        "SFERENCE_WEBHOOK_POLL_SECONDS": "0.2",
    }


def deliveries(client: httpx.Client, endpoint_id: str) -> list[dict[str, Any]]:
    return client.get(f"/v1/webhooks/endpoints/{endpoint_id}/deliveries").raise_for_status().json()["items"]  # type: ignore[no-any-return]


def test_a_delivery_pending_when_the_server_is_killed_arrives_after_the_restart(
    start: Start, database_url: str
) -> None:
    with Receiver() as probe:  # a port of our own, then nobody listens on it
        port = probe.port
    first = start("serve", "--port", "0", env=env(database_url))
    client = httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    created = client.post("/v1/webhooks/endpoints", json={"url": f"http://127.0.0.1:{port}/hook"}).json()
    batch = client.post("/v1/batches", json=document([chat_row("a", "hello")])).json()
    assert wait_terminal(client, batch["id"])["status"] == "completed"
    deadline = time.monotonic() + 30
    while True:  # the first attempt found nobody listening
        (row,) = deliveries(client, created["id"])
        if row["attempts"] >= 1 and row["last_error"]:
            break
        assert time.monotonic() < deadline, row
        time.sleep(0.1)
    assert row["status"] == "pending" and row["last_status_code"] is None
    first.kill()

    with Receiver(port) as receiver:
        receiver.secret = created["secret"]
        second = start("serve", "--port", "0", env=env(database_url))
        (got,) = receiver.wait_for(lambda got: len(got) >= 1)
        assert got.verified and got.id == row["id"]
        assert got.payload["type"] == "batch.completed" and got.payload["data"]["id"] == batch["id"]
        client = httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        deadline = time.monotonic() + 30
        while deliveries(client, created["id"])[0]["status"] != "delivered":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.0)
        assert len(receiver.received) == 1
