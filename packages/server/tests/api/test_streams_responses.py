"""Streams, responses and the completion-events feed over real HTTP (echo engine)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from support.batches import chat_row, document, wait_terminal
from support.settings import ECHO_MODEL

from .conftest import Api

SLOW = {"models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 1, "token_delay": 0.02}}]}


def respond(client: httpx.Client, content: str, **extra: Any) -> dict[str, Any]:
    created = client.post(
        "/v1/responses", json={"model": ECHO_MODEL, "input": [{"role": "user", "content": content}], **extra}
    )
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def finished(client: httpx.Client, response_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/responses/{response_id}").json()
        if response["status"] != "in_progress":
            return response  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, response
        time.sleep(0.02)


def events(client: httpx.Client, **params: Any) -> dict[str, Any]:
    return client.get("/v1/responses/events", params=params).json()  # type: ignore[no-any-return]


def test_a_response_is_accepted_at_once_and_runs(api: Api) -> None:
    client = api.user("ann")
    started = time.monotonic()
    created = respond(
        client,
        "hello there",
        include_reasoning=True,
        max_output_tokens=5,
        metadata={"completion_window": "24h", "custom_id": "k1", "team": "blue"},
    )
    assert time.monotonic() - started < 1.0
    assert created["status"] == "in_progress" and created["object"] == "response"
    assert isinstance(created["created_at"], int) and created["output"] == []
    done = finished(client, created["id"])
    assert done["status"] == "completed"
    assert done["output"] == [{"type": "output_text", "text": "echo: hello there"}]
    assert done["usage"]["output_tokens"] == 3 and done["usage"]["total_tokens"] > 3
    assert done["error"] is None and done["custom_id"] == "k1" and done["metadata"]["team"] == "blue"
    plain = finished(client, respond(client, "just a string")["id"])
    assert plain["output"][0]["text"] == "echo: just a string"
    as_string = client.post("/v1/responses", json={"model": ECHO_MODEL, "input": "a plain input"}).json()
    assert finished(client, as_string["id"])["output"][0]["text"] == "echo: a plain input"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"model": ECHO_MODEL}, 400, "input: is required"),
        ({"model": "gpt-x", "input": "hi"}, 400, ECHO_MODEL),
        ({"model": ECHO_MODEL, "input": []}, 400, "input"),
        ({"model": ECHO_MODEL, "input": "hi", "temperature": 7}, 400, "temperature"),
        ({"model": ECHO_MODEL, "input": "hi", "metadata": {"completion_window": "2h"}}, 400, "completion_window"),
        ({"model": ECHO_MODEL, "input": "hi", "metadata": {"stream_id": "nope"}}, 404, "no stream"),
        ({"model": ECHO_MODEL, "input": "hi", "stream": True}, 400, "stream"),
        ("not an object", 400, "JSON object"),
    ],
)
def test_bad_responses_are_refused(api: Api, body: Any, status: int, fragment: str) -> None:
    client = api.user("ann")
    response = client.post("/v1/responses", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert client.get("/v1/responses").json()["data"] == []
    bad_json = client.post("/v1/responses", content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["detail"]


def test_streams_count_their_items(api: Api) -> None:
    client = api.user("ann")
    created = client.post("/v1/streams", json={"name": "daily-extraction"})
    assert created.status_code == 201
    stream = created.json()
    assert (stream["window"], stream["status"], stream["total_items"], stream["completion_ratio"]) == (
        "24h",
        "open",
        0,
        0.0,
    )
    assert stream["latest_completion_id"] is None and isinstance(stream["created_at"], str)
    ids = [
        respond(client, f"item {i}", metadata={"stream_id": stream["id"], "custom_id": f"c{i}"})["id"] for i in range(4)
    ]
    for response_id in ids:
        finished(client, response_id)
    detail = client.get(f"/v1/streams/{stream['id']}").json()
    assert (detail["total_items"], detail["completed_items"], detail["pending_items"]) == (4, 4, 0)
    assert detail["completion_ratio"] == 1.0 and detail["total_tokens"] > 0
    feed = events(client, stream_id=stream["id"], limit=10)
    assert detail["latest_completion_id"] == feed["data"][-1]["completion_id"]
    assert [e["custom_id"] for e in feed["data"]] == ["c0", "c1", "c2", "c3"]
    listed = client.get("/v1/streams").json()["items"]
    assert [s["id"] for s in listed] == [stream["id"]]
    assert set(listed[0]) >= {"id", "name", "window", "status", "created_at", "updated_at"}
    hour = client.post("/v1/streams", json={"name": "fast", "window": "1h"}).json()
    assert hour["window"] == "1h"
    for bad in ({"name": ""}, {"name": "x", "window": "2h"}, {}):
        assert client.post("/v1/streams", json=bad).status_code == 400


@pytest.mark.parametrize("server_overrides", [SLOW])
def test_cancelling_a_stream_stops_pending_items_and_refuses_new_ones(api: Api) -> None:
    client = api.user("ann")
    stream = client.post("/v1/streams", json={"name": "s", "window": "1h"}).json()
    ids = [respond(client, " ".join(["w"] * 30), metadata={"stream_id": stream["id"]})["id"] for _ in range(6)]
    deadline = time.monotonic() + 10
    while client.get(f"/v1/streams/{stream['id']}").json()["running_items"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cancelled = client.patch(f"/v1/streams/{stream['id']}", json={"status": "cancelled"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"] is not None
    refused = client.post(
        "/v1/responses", json={"model": ECHO_MODEL, "input": "x", "metadata": {"stream_id": stream["id"]}}
    )
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]
    states = [finished(client, i)["status"] for i in ids]
    assert states.count("completed") >= 1 and states.count("cancelled") >= 4  # in-flight finished, rest stopped
    detail = client.get(f"/v1/streams/{stream['id']}").json()
    assert detail["completed_items"] + detail["cancelled_items"] == 6 and detail["pending_items"] == 0
    assert client.patch(f"/v1/streams/{stream['id']}", json={"status": "cancelled"}).status_code == 200
    archived = client.patch(f"/v1/streams/{stream['id']}", json={"status": "archived"}).json()
    assert archived["status"] == "archived" and archived["archived_at"] is not None
    again = client.patch(f"/v1/streams/{stream['id']}", json={"status": "cancelled"})
    assert again.status_code == 409
    assert client.patch(f"/v1/streams/{stream['id']}", json={"status": "open"}).status_code == 400


@pytest.mark.parametrize("server_overrides", [SLOW])
def test_cancelling_a_response(api: Api) -> None:
    client = api.user("ann")
    first = respond(client, " ".join(["w"] * 50))
    queued = respond(client, "later")
    cancelled = client.delete(f"/v1/responses/{queued['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["error"]["code"] == "response_cancelled"
    assert client.delete(f"/v1/responses/{queued['id']}").json()["status"] == "cancelled"
    done = finished(client, first["id"])
    assert done["status"] == "completed", done
    assert client.delete(f"/v1/responses/{first['id']}").status_code == 409


def test_listing_responses(api: Api) -> None:
    client = api.user("ann")
    stream = client.post("/v1/streams", json={"name": "s"}).json()
    standalone = [respond(client, f"s{i}")["id"] for i in range(3)]
    in_stream = respond(client, "x", metadata={"stream_id": stream["id"]})["id"]
    client.post("/v1/batches", json=document([chat_row("b", "batch row")]))
    listed = client.get("/v1/responses").json()
    assert [r["id"] for r in listed["data"]] == standalone[::-1] and listed["has_more"] is False
    assert set(listed["data"][0]) == {"id", "object", "created_at", "model", "status"}
    page = client.get("/v1/responses", params={"limit": 2}).json()
    assert len(page["data"]) == 2 and page["has_more"] is True
    assert [r["id"] for r in client.get("/v1/responses", params={"stream_id": stream["id"]}).json()["data"]] == [
        in_stream
    ]


def test_the_events_feed_pages_exactly_once(api: Api) -> None:
    client = api.user("ann")
    ids = [respond(client, f"n{i}", metadata={"custom_id": f"n{i}"})["id"] for i in range(7)]
    for response_id in ids:
        finished(client, response_id)
    batch = client.post("/v1/batches", json=document([chat_row("row", "from a batch")])).json()
    wait_terminal(client, batch["id"])
    stream = client.post("/v1/streams", json={"name": "s"}).json()
    finished(client, respond(client, "in a stream", metadata={"stream_id": stream["id"]})["id"])

    latest = events(client, limit=3)  # no cursor: the newest events, oldest first
    assert [e["custom_id"] for e in latest["data"]] == ["n5", "n6", "row"] and latest["has_more"] is True
    everything = events(client, limit=100)["data"]
    assert [e["custom_id"] for e in everything] == [f"n{i}" for i in range(7)] + ["row"]  # no stream items here
    seen, cursor = [everything[0]["completion_id"]], everything[0]["completion_id"]
    while True:  # what a consumer does: keep the last id of each page as the next cursor
        page = events(client, limit=3, starting_after=cursor)
        seen += [e["completion_id"] for e in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["completion_id"]
    assert seen == [e["completion_id"] for e in everything]

    first_three = events(client, limit=3, starting_after=everything[0]["completion_id"])
    assert [e["custom_id"] for e in first_three["data"]] == ["n1", "n2", "n3"] and first_three["has_more"]
    before = events(client, limit=2, ending_before=everything[3]["completion_id"])
    assert [e["custom_id"] for e in before["data"]] == ["n1", "n2"] and before["has_more"]
    tail = events(client, limit=10, starting_after=everything[-1]["completion_id"])
    assert tail == {"object": "list", "data": [], "has_more": False}

    event = everything[0]
    assert event["status"] == "completed" and event["response_id"] == ids[0]
    assert event["result"]["choices"][0]["message"]["content"] == "echo: n0"
    assert event["total_tokens"] == event["prompt_tokens"] + event["completion_tokens"]
    assert event["completed_at"].endswith("+00:00") and event["error"] is None
    scoped = events(client, stream_id=stream["id"])["data"]
    assert [e["result"]["choices"][0]["message"]["content"] for e in scoped] == ["echo: in a stream"]
    assert client.get("/v1/responses/events", params={"stream_id": "nope"}).status_code == 404


def test_a_long_poll_is_woken_by_a_completion(api: Api) -> None:
    client = api.user("ann")
    finished(client, respond(client, "first")["id"])
    cursor = events(client)["data"][-1]["completion_id"]
    got: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        got["page"] = events(client, starting_after=cursor, wait_ms=20_000)
        got["waited"] = time.monotonic() - started

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    assert "page" not in got  # still waiting
    respond(client, "second")
    waiter.join(timeout=10)
    assert [e["result"]["choices"][0]["message"]["content"] for e in got["page"]["data"]] == ["echo: second"]
    assert got["waited"] < 5
    started = time.monotonic()
    empty = events(client, starting_after=got["page"]["data"][-1]["completion_id"], wait_ms=300)
    assert empty["data"] == [] and 0.25 < time.monotonic() - started < 3


def test_everything_is_private(api: Api) -> None:
    ann, bob = api.user("ann"), api.user("bob")
    stream = ann.post("/v1/streams", json={"name": "mine"}).json()
    response = respond(ann, "secret", metadata={"stream_id": stream["id"]})
    finished(ann, response["id"])
    for method, path in [
        ("GET", f"/v1/streams/{stream['id']}"),
        ("PATCH", f"/v1/streams/{stream['id']}"),
        ("GET", f"/v1/responses/{response['id']}"),
        ("DELETE", f"/v1/responses/{response['id']}"),
    ]:
        assert bob.request(method, path, json={"status": "cancelled"} if method == "PATCH" else None).status_code == 404
    assert bob.get("/v1/responses/events", params={"stream_id": stream["id"]}).status_code == 404
    assert bob.get("/v1/responses/events").json()["data"] == []
    assert bob.get("/v1/streams").json()["items"] == []
    sneaky = bob.post(
        "/v1/responses", json={"model": ECHO_MODEL, "input": "x", "metadata": {"stream_id": stream["id"]}}
    )
    assert sneaky.status_code == 404


@pytest.mark.parametrize("server_overrides", [SLOW])
def test_a_stream_item_with_an_earlier_deadline_overtakes_a_long_batch(api: Api) -> None:
    client = api.user("ann")
    batch = client.post(
        "/v1/batches", json=document([chat_row(f"r{i}", " ".join(["w"] * 10)) for i in range(40)])
    ).json()
    stream = client.post("/v1/streams", json={"name": "urgent", "window": "1h"}).json()
    urgent = respond(client, "urgent", metadata={"stream_id": stream["id"]})
    assert finished(client, urgent["id"])["status"] == "completed"
    counts = client.get(f"/v1/batches/{batch['id']}").json()["request_counts"]
    assert counts["queued"] > 10  # most of the batch still waits: the 1h item went first
