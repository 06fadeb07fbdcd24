"""Completion estimates over real HTTP (echo engine with a per-token delay): unknown on a cold
start and once finished, ``feasible`` at submission, ``require_feasible`` refusing a batch that
cannot finish in its window, and a stream's estimate while it has queued work. The accuracy of
an estimate against the real finish: tests/e2e/test_estimates.py."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from support.batches import chat_row, document, wait_terminal
from support.console import sign_in
from support.settings import ECHO_MODEL

from .conftest import PASSWORD, Api

# One slot, four seconds a token: a one-token request takes 4 s, so the measured throughput is
# at most 0.25 requests a second, 21,600 a day.
# No caching: each read sees the store as it is.
CRAWL = {
    "models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 1, "token_delay": 4.0}}],
    "estimate_cache_seconds": 0,
}
TOO_MANY = 25_000  # at 0.25/s: 100,000 s, past the 86,400 s of a 24h window
# Two slots, 0.1 s a token: a two-token request takes 0.2 s.
QUICK = {
    "models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 2, "token_delay": 0.1}}],
    "estimate_cache_seconds": 0,
}


def seconds(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def submit(client: httpx.Client, rows: list[dict[str, Any]], **options: Any) -> httpx.Response:
    return client.post("/v1/batches", json={**document(rows), **options})


def batch_ids(client: httpx.Client) -> list[str]:
    return [b["id"] for b in client.get("/v1/batches").raise_for_status().json()["items"]]


@pytest.mark.parametrize("server_overrides", [CRAWL])
def test_a_batch_that_cannot_finish_in_its_window_says_so_or_is_refused(api: Api) -> None:
    _, key = api.person("ann")
    client = api.client(key)
    console = sign_in(api.url, "ann", PASSWORD)
    # Cold start: nothing completed recently, so no estimate and no verdict (and no refusal).
    first = submit(client, [chat_row("w", "warm up", max_tokens=1)], require_feasible=True)
    assert first.status_code == 201, first.text
    warm = first.json()
    assert warm["feasible"] is None and warm["estimated_completion_at"] is None
    running = client.get(f"/v1/batches/{warm['id']}").json()
    assert running["estimated_completion_at"] is None  # still nothing measured while it runs
    assert 'Estimated finish</dt><dd class="estimate">unknown' in console.get(f"/batches/{warm['id']}").text
    done = wait_terminal(client, warm["id"], timeout=60)
    assert done["status"] == "completed" and done["estimated_completion_at"] is None
    assert "feasible" not in done  # a verdict of the submission only

    rows = [chat_row(f"r{i}", "x", max_tokens=1) for i in range(TOO_MANY)]
    refused = submit(client, rows, require_feasible=True)
    assert refused.status_code == 409, refused.text
    error = refused.json()
    assert "require_feasible" in error["detail"] and "window" in error["detail"]
    assert error["extra"][0]["loc"] == "require_feasible"
    assert batch_ids(client) == [warm["id"]]  # nothing was queued

    accepted = submit(client, rows)
    assert accepted.status_code == 201, accepted.text
    batch = accepted.json()
    assert batch["feasible"] is False
    estimate, deadline = seconds(batch["estimated_completion_at"]), seconds(batch["expires_at"])
    # 25,000 requests at no more than 0.25 a second.
    assert estimate - time.time() > TOO_MANY * 4 * 0.95 and estimate > deadline
    listed = client.get("/v1/batches").json()["items"][0]
    assert listed["id"] == batch["id"] and listed["estimated_completion_at"] is not None
    page = console.get(f"/batches/{batch['id']}").text
    assert "Estimated finish" in page and "after the deadline" in page
    assert "ETA " in console.get("/batches").text
    client.post(f"/v1/batches/{batch['id']}/cancel").raise_for_status()
    assert wait_terminal(client, batch["id"], timeout=120)["estimated_completion_at"] is None


@pytest.mark.parametrize("server_overrides", [QUICK])
def test_a_feasible_batch_and_require_feasible_when_it_fits(api: Api) -> None:
    client = api.user("bob")
    wait_terminal(client, submit(client, [chat_row(f"w{i}", "warm", max_tokens=2) for i in range(4)]).json()["id"])
    created = submit(client, [chat_row(f"r{i}", "go", max_tokens=2) for i in range(20)], require_feasible=True)
    assert created.status_code == 201, created.text
    batch = created.json()
    assert batch["feasible"] is True
    assert time.time() < seconds(batch["estimated_completion_at"]) < seconds(batch["expires_at"])
    assert wait_terminal(client, batch["id"])["estimated_completion_at"] is None


@pytest.mark.parametrize("flag", ["yes", 1, {"a": 1}, [True]])
def test_require_feasible_must_be_a_boolean(api: Api, flag: Any) -> None:
    client = api.user("cat")
    refused = submit(client, [chat_row("a", "hi")], require_feasible=flag)
    assert refused.status_code == 400, refused.text
    assert "require_feasible" in refused.json()["detail"]
    assert refused.json()["extra"] == [{"loc": "require_feasible", "message": "must be a boolean"}]
    assert batch_ids(client) == []
    # null reads as left out
    assert submit(client, [chat_row("a", "hi")], require_feasible=None).status_code == 201


@pytest.mark.parametrize("server_overrides", [QUICK])
def test_a_stream_estimate_while_it_has_queued_work(api: Api) -> None:
    _, key = api.person("dan")
    client = api.client(key)
    stream = client.post("/v1/streams", json={"name": "s"}).raise_for_status().json()
    assert stream["estimated_completion_at"] is None
    wait_terminal(client, submit(client, [chat_row(f"w{i}", "warm", max_tokens=2) for i in range(4)]).json()["id"])
    console = sign_in(api.url, "dan", PASSWORD)  # first: signing in takes a password hash

    def add(content: str) -> str:
        body = {"model": ECHO_MODEL, "input": content, "max_output_tokens": 4, "metadata": {"stream_id": stream["id"]}}
        return str(client.post("/v1/responses", json=body).raise_for_status().json()["id"])

    for i in range(20):  # 20 requests of 0.4 s on two slots: about 4 s of work
        add(f"one two three {i}")
    busy = client.get(f"/v1/streams/{stream['id']}").json()
    assert busy["pending_items"] + busy["running_items"] > 0
    assert busy["estimated_completion_at"] is not None
    assert time.time() < seconds(busy["estimated_completion_at"]) < time.time() + 60
    page = console.get(f"/streams/{stream['id']}").text
    assert 'Estimated finish</dt><dd class="estimate">20' in page  # a time, not "unknown"
    deadline = time.monotonic() + 60
    while (current := client.get(f"/v1/streams/{stream['id']}").json())["completed_items"] < 20:
        assert time.monotonic() < deadline, current
        time.sleep(0.1)
    assert current["estimated_completion_at"] is None
