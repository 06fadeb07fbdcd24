"""Signed webhooks over real HTTP: a live server (echo engine, real store) delivers to a real
receiver on loopback, which verifies every request with the reference ``standardwebhooks``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from support.batches import chat_row, document, wait_terminal
from support.console import form_token, sign_in
from support.settings import ECHO_MODEL
from support.webhooks import Receiver

from .conftest import PASSWORD, Api

BATCH_EVENTS = ["batch.completed", "batch.failed", "batch.cancelled", "batch.expired"]


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    # Loopback receivers, quick retries, and an echo engine slow enough to cancel a batch mid-way.
    return {
        "webhook_allow_private": True,
        "webhook_retry_seconds": [0.3],
        "webhook_poll_seconds": 0.1,
        "models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 2, "token_delay": 0.01}}],
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def register(client: httpx.Client, receiver: Receiver, **body: Any) -> dict[str, Any]:
    created = client.post("/v1/webhooks/endpoints", json={"url": receiver.url, **body})
    assert created.status_code == 201, created.text
    endpoint = created.json()
    receiver.secret = endpoint["secret"]
    return endpoint  # type: ignore[no-any-return]


def deliveries(client: httpx.Client, endpoint_id: str) -> list[dict[str, Any]]:
    page = client.get(f"/v1/webhooks/endpoints/{endpoint_id}/deliveries").raise_for_status().json()
    return page["items"]  # type: ignore[no-any-return]


def settled(client: httpx.Client, endpoint_id: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The endpoint's deliveries once ``count`` of them are no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        rows = deliveries(client, endpoint_id)
        if len([r for r in rows if r["status"] != "pending"]) >= count:
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)


def test_a_completed_batch_is_delivered_once_signed(api: Api, receiver: Receiver) -> None:
    client = api.user("ann")
    endpoint = register(client, receiver, events=BATCH_EVENTS, description="ci hook")
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) >= 6 + 32
    assert endpoint["events"] == BATCH_EVENTS and endpoint["enabled"] is True
    shown = client.get(f"/v1/webhooks/endpoints/{endpoint['id']}").json()
    assert "secret" not in shown and shown["description"] == "ci hook"
    listed = client.get("/v1/webhooks/endpoints").json()
    assert [e["id"] for e in listed["items"]] == [endpoint["id"]] and "secret" not in listed["items"][0]

    batch = client.post("/v1/batches", json=document([chat_row("a", "hi"), chat_row("b", "there")])).json()
    final = wait_terminal(client, batch["id"])
    (got,) = receiver.wait_for(lambda got: len(got) >= 1)
    assert got.verified and got.answered == 200
    payload = got.payload
    assert payload["type"] == "batch.completed" and payload["timestamp"].endswith("+00:00")
    assert payload["data"] == final  # the batch as GET /v1/batches/{id} shows it
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    (row,) = settled(client, endpoint["id"], 1)
    assert row["id"] == got.id and row["event_type"] == "batch.completed" and row["subject_id"] == batch["id"]
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 1, 200)
    time.sleep(0.5)
    assert len(receiver.received) == 1  # once


def test_failed_and_cancelled_batches_reach_the_endpoints_subscribed(api: Api, receiver: Receiver) -> None:
    client = api.user("ann")
    endpoint = register(client, receiver, events=["batch.failed", "batch.cancelled"])
    done = client.post("/v1/batches", json=document([chat_row("ok", "fine")])).json()
    failed = client.post("/v1/batches", json=document([chat_row("x", "[[fail:permanent]]")])).json()
    assert wait_terminal(client, failed["id"])["status"] == "failed"
    wait_terminal(client, done["id"])
    big = client.post("/v1/batches", json=document([chat_row(f"r{i}", "w " * 40) for i in range(200)])).json()
    assert client.post(f"/v1/batches/{big['id']}/cancel").status_code == 200
    assert wait_terminal(client, big["id"])["status"] == "cancelled"
    got = receiver.wait_for(lambda got: len(got) >= 2)
    assert all(r.verified for r in got)
    by_type = {r.payload["type"]: r.payload["data"] for r in got}
    assert by_type["batch.failed"]["id"] == failed["id"] and by_type["batch.failed"]["error"]["code"]
    assert by_type["batch.cancelled"]["id"] == big["id"] and by_type["batch.cancelled"]["status"] == "cancelled"
    time.sleep(0.5)
    assert len(receiver.received) == 2  # the completed batch was not subscribed to
    assert {d["status"] for d in settled(client, endpoint["id"], 2)} == {"delivered"}


def test_a_failed_attempt_is_retried_with_the_same_id_and_body(api: Api, receiver: Receiver) -> None:
    client = api.user("ann")
    endpoint = register(client, receiver)
    receiver.statuses = [500, 503]
    batch = client.post("/v1/batches", json=document([chat_row("a", "hi")])).json()
    wait_terminal(client, batch["id"])
    got = receiver.wait_for(lambda got: len(got) >= 3)
    assert [r.answered for r in got] == [500, 503, 200] and all(r.verified for r in got)
    assert len({r.id for r in got}) == 1 and len({r.body for r in got}) == 1
    # each attempt signs its own time (verified above against its own header; seconds, so
    # attempts within one second may share it)
    stamps = [int(r.headers["webhook-timestamp"]) for r in got]
    assert stamps == sorted(stamps)
    (row,) = settled(client, endpoint["id"], 1)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 3, 200)


def test_a_delivery_is_given_up_after_its_retry_window(api: Api, receiver: Receiver) -> None:
    api.services.settings.webhook_retry_window_seconds = 1.0
    client = api.user("ann")
    endpoint = register(client, receiver)
    receiver.statuses = [500] * 100
    test = client.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test")
    assert test.status_code == 202 and test.json()["event_type"] == "webhook.test"
    (row,) = settled(client, endpoint["id"], 1)
    assert row["status"] == "failed" and row["last_status_code"] == 500 and row["attempts"] >= 2
    assert row["last_error"] == "the endpoint answered 500" and row["next_attempt_at"] is None
    tries = len(receiver.received)
    time.sleep(0.8)
    assert len(receiver.received) == tries  # no more attempts

    receiver.statuses = []
    again = client.post(f"/v1/webhooks/deliveries/{row['id']}/redeliver")
    assert again.status_code == 202 and again.json()["status"] == "pending"
    got = receiver.wait_for(lambda got: len(got) > tries)
    assert got[-1].id == row["id"] and got[-1].answered == 200 and got[-1].body == got[0].body
    assert got[-1].payload == {
        "type": "webhook.test",
        "timestamp": got[0].payload["timestamp"],
        "data": {"endpoint_id": endpoint["id"]},
    }
    (row,) = settled(client, endpoint["id"], 1)
    assert row["status"] == "delivered" and row["delivered_at"] is not None


def test_a_delivered_message_can_be_redelivered(api: Api, receiver: Receiver) -> None:
    client = api.user("ann")
    endpoint = register(client, receiver)
    client.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test").raise_for_status()
    (first,) = receiver.wait_for(lambda got: len(got) >= 1)
    (row,) = settled(client, endpoint["id"], 1)
    client.post(f"/v1/webhooks/deliveries/{row['id']}/redeliver").raise_for_status()
    first, second = receiver.wait_for(lambda got: len(got) >= 2)
    assert second.verified and second.id == first.id and second.body == first.body


def test_items_of_a_stream_that_asked_send_response_completed(api: Api, receiver: Receiver) -> None:
    client = api.user("ann")
    register(client, receiver, events=["response.completed"])
    loud = client.post("/v1/streams", json={"name": "loud", "webhook_responses": True}).json()
    quiet = client.post("/v1/streams", json={"name": "quiet"}).json()
    assert (loud["webhook_responses"], quiet["webhook_responses"]) == (True, False)
    body = {"model": ECHO_MODEL, "input": "tell me"}
    heard = client.post("/v1/responses", json={**body, "metadata": {"stream_id": loud["id"], "custom_id": "c1"}})
    client.post("/v1/responses", json={**body, "metadata": {"stream_id": quiet["id"]}}).raise_for_status()
    (got,) = receiver.wait_for(lambda got: len(got) >= 1)
    data = got.payload["data"]
    assert got.payload["type"] == "response.completed" and data["id"] == heard.json()["id"]
    assert data["stream_id"] == loud["id"] and data["custom_id"] == "c1" and data["status"] == "completed"
    assert data["result"]["choices"][0]["message"]["content"] == "echo: tell me"
    patched = client.patch(f"/v1/streams/{quiet['id']}", json={"webhook_responses": True}).json()
    assert patched["webhook_responses"] is True
    time.sleep(0.5)
    assert len(receiver.received) == 1  # the quiet stream's item completed before it asked


def test_endpoints_are_private_to_their_owner(api: Api, receiver: Receiver) -> None:
    ann, bob = api.user("ann"), api.user("bob")
    endpoint = register(ann, receiver)
    ann.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test").raise_for_status()
    (row,) = settled(ann, endpoint["id"], 1)
    base = f"/v1/webhooks/endpoints/{endpoint['id']}"
    for method, path in [
        ("GET", base),
        ("DELETE", base),
        ("GET", f"{base}/deliveries"),
        ("POST", f"{base}/test"),
        ("POST", f"/v1/webhooks/deliveries/{row['id']}/redeliver"),
    ]:
        answer = bob.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
    assert bob.patch(base, json={"enabled": False}).status_code == 404
    assert bob.get("/v1/webhooks/endpoints").json()["items"] == []
    assert ann.get(base).status_code == 200 and len(receiver.received) == 1


def test_a_disabled_endpoint_gets_no_new_events_and_a_deleted_one_is_gone(api: Api, receiver: Receiver) -> None:
    client = api.user("ann")
    endpoint = register(client, receiver)
    base = f"/v1/webhooks/endpoints/{endpoint['id']}"
    assert client.patch(base, json={"enabled": False}).json()["enabled"] is False
    batch = client.post("/v1/batches", json=document([chat_row("a", "hi")])).json()
    wait_terminal(client, batch["id"])
    time.sleep(0.5)
    assert receiver.received == [] and deliveries(client, endpoint["id"]) == []
    deleted = client.delete(base)
    assert deleted.status_code == 200 and deleted.json() == {
        "id": endpoint["id"],
        "object": "webhook_endpoint",
        "deleted": True,
    }
    assert client.get(base).status_code == 404 and client.delete(base).status_code == 404


def test_a_user_has_at_most_twenty_endpoints_even_when_created_at_once(api: Api) -> None:
    """Creates racing each other still stop at the limit: each waits for the one before it to
    commit before it counts (on PostgreSQL two of them used to count 19 and both insert)."""
    client = api.user("ann")
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda i: client.post("/v1/webhooks/endpoints", json={"url": f"https://e{i}.example.com/"}), range(28)
            )
        )
    assert sorted(a.status_code for a in answers) == [201] * 20 + [400] * 8
    refused = next(a for a in answers if a.status_code == 400)
    assert "at most 20 webhook endpoints" in refused.json()["detail"]
    assert len(client.get("/v1/webhooks/endpoints", params={"limit": 100}).json()["items"]) == 20


@pytest.mark.parametrize(
    ("body", "where", "fragment"),
    [
        ({"url": "ftp://example.com/hook"}, "url", "http:// or https://"),
        ({"url": "not a url"}, "url", "http:// or https://"),
        ({"url": "http:///no-host"}, "url", "no host"),
        ({"url": "https://user:pw@example.com/"}, "url", "credentials"),
        ({"url": "https://" + "a" * 64 + ".example.com/"}, "url", "host name that is not valid"),
        ({"url": "https://example.com/", "events": ["batch.done"]}, "events.0", "unknown event type 'batch.done'"),
        ({"url": "https://example.com/", "events": []}, "events", "at least one"),
        ({"url": "https://example.com/", "events": ["webhook.test"]}, "events.0", "unknown event type"),
        ({"events": ["batch.failed"]}, "body.url", "required"),
    ],
)
def test_bad_endpoints_are_refused_naming_the_field(api: Api, body: dict[str, Any], where: str, fragment: str) -> None:
    client = api.user("ann")
    answer = client.post("/v1/webhooks/endpoints", json=body)
    assert answer.status_code == 400, answer.text
    problems = answer.json()["extra"]
    assert any(p["loc"] == where and fragment in p["message"] for p in problems), problems
    assert client.get("/v1/webhooks/endpoints").json()["items"] == []  # nothing left behind


def test_console_forms_need_their_csrf_token_and_endpoints_stay_private(api: Api, receiver: Receiver) -> None:
    api.person("ann")
    api.person("bob")
    ann, bob = sign_in(api.url, "ann", PASSWORD), sign_in(api.url, "bob", PASSWORD)
    forged = ann.post("/webhooks", data={"url": receiver.url, "events": ["batch.completed"]})
    assert forged.status_code == 403 and "No endpoints yet." in ann.get("/webhooks").text
    token = form_token(ann, "/webhooks")
    bad = ann.post("/webhooks", data={"url": "ftp://x.example/", "events": ["batch.completed"], "csrf_token": token})
    assert bad.status_code == 400 and "http:// or https://" in bad.text
    made = ann.post("/webhooks", data={"url": receiver.url, "events": ["batch.completed"], "csrf_token": token})
    assert made.status_code == 200 and 'id="new-secret"' in made.text
    listed = ann.get("/webhooks").text
    assert receiver.url in listed and "whsec_" not in listed
    (endpoint_id,) = re.findall(r'href="/webhooks/([0-9a-f-]{36})"', listed)
    assert bob.get(f"/webhooks/{endpoint_id}").status_code == 404
    bob_token = form_token(bob, "/webhooks")
    assert bob.post(f"/webhooks/{endpoint_id}/delete", data={"csrf_token": bob_token}).status_code == 404
    assert bob.post(f"/webhooks/{endpoint_id}/test", data={"csrf_token": bob_token}).status_code == 404
    assert ann.get(f"/webhooks/{endpoint_id}").status_code == 200
    assert ann.post(f"/webhooks/{endpoint_id}/delete", data={"csrf_token": token}).status_code == 303
    assert ann.get(f"/webhooks/{endpoint_id}").status_code == 404
