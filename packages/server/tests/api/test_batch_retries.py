"""``POST /v1/batches/{id}/retry`` and ``results?merged=true`` over real HTTP on a real store.

One attempt per request (``max_attempts`` 1), so the echo engine's ``[[fail:transient:N]]``
fails a row in its first N batches and completes it in the next: a retry can change the outcome.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from sference_server.services import batch_retries
from sference_server.store.tables import batches, items
from support.batches import chat_row, document, result_rows, wait_terminal
from support.console import csrf_of, sign_in
from support.settings import ECHO_MODEL
from support.store import assert_counters_match, seed_batch, statements_run

from .conftest import PASSWORD, Api
from .test_openai import finish, line, upload


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    return {"max_attempts": 1}


SLOW_MODEL = "sference-test/slow-echo"
WITH_SLOW = {
    "max_attempts": 1,
    "models": [
        {"id": ECHO_MODEL, "engine": "echo"},
        {"id": SLOW_MODEL, "engine": "echo", "options": {"slots": 1, "token_delay": 0.05}},
    ],
}


def submit(client: httpx.Client, rows: list[dict[str, Any]]) -> dict[str, Any]:
    created = client.post("/v1/batches", json=document(rows))
    assert created.status_code == 201, created.text
    return wait_terminal(client, created.json()["id"])


def retry(client: httpx.Client, batch_id: str, **headers: str) -> httpx.Response:
    return client.post(f"/v1/batches/{batch_id}/retry", headers=headers)


def merged(client: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/batches/{batch_id}/results.jsonl", params={"merged": "true"})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def text(row: dict[str, Any]) -> str | None:
    return row["result_json"]["choices"][0]["message"]["content"] if row["result_json"] else None


def bodies(api: Api, batch_id: str) -> list[tuple[str | None, dict[str, Any]]]:
    with api.services.db.read() as tx:
        rows = tx.execute(
            select(items.c.custom_id, items.c.body).where(items.c.batch_id == batch_id).order_by(items.c.row_index)
        ).all()
    return [(custom_id, json.loads(body)) for custom_id, body in rows]


def test_a_retry_queues_exactly_the_rows_that_did_not_complete(api: Api) -> None:
    client = api.user("ann")
    rows = [
        chat_row("ok-1", "fine"),
        chat_row("bad-1", "no [[fail:permanent]]"),
        chat_row("ok-2", "fine too", temperature=0.5),
        chat_row("bad-2", "never [[fail:permanent]]", max_tokens=7),
    ]
    original = submit(client, rows)
    assert original["status"] == "completed" and original["request_counts"]["failed"] == 2
    assert original["retry_of"] is None

    created = retry(client, original["id"])
    assert created.status_code == 201, created.text
    again = created.json()
    assert again["retry_of"] == original["id"] and again["id"] != original["id"]
    assert again["request_count"] == 2 and again["model"] == ECHO_MODEL and again["window"] == "24h"
    assert again["status"] in ("pending", "running", "completed", "failed")
    assert again["created_at"] > original["created_at"] and again["expires_at"] > original["expires_at"]
    original_bodies = dict(bodies(api, original["id"]))
    assert bodies(api, again["id"]) == [(cid, original_bodies[cid]) for cid in ("bad-1", "bad-2")]

    finished = wait_terminal(client, again["id"])  # the same bodies fail again
    assert finished["status"] == "failed" and finished["request_counts"]["failed"] == 2
    assert finished["retry_of"] == original["id"]
    assert client.get(f"/v1/batches/{original['id']}").json()["retry_of"] is None
    listed = {b["id"]: b for b in client.get("/v1/batches").json()["items"]}
    assert listed[again["id"]]["retry_of"] == original["id"]
    assert_counters_match(api.services.db, again["id"])


def test_merged_results_take_the_latest_finished_outcome_along_a_chain_of_retries(api: Api) -> None:
    client = api.user("ann")
    rows = [
        chat_row("a", "done first time"),
        chat_row("b", "second try [[fail:transient:1]]"),
        chat_row("c", "third try [[fail:transient:2]]"),
        chat_row("d", "never [[fail:permanent]]"),
        chat_row(None, "anonymous [[fail:transient:1]]"),
        chat_row("f", "also done"),
    ]
    original = submit(client, rows)
    assert (original["request_counts"]["completed"], original["request_counts"]["failed"]) == (2, 4)
    first = wait_terminal(client, retry(client, original["id"]).json()["id"])
    assert first["request_count"] == 4 and first["request_counts"]["completed"] == 2
    second = wait_terminal(client, retry(client, first["id"]).json()["id"])
    assert second["retry_of"] == first["id"] and second["request_count"] == 2
    assert second["request_counts"]["completed"] == 1 and second["request_counts"]["failed"] == 1

    ids = ["a", "b", "c", "d", None, "f"]
    chain = merged(client, second["id"])
    assert [r["custom_id"] for r in chain] == ids  # each row of the original once, in its order
    assert [r["status"] for r in chain] == ["completed", "completed", "completed", "failed", "completed", "completed"]
    assert text(chain[2]) == "echo: third try [[fail:transient:2]]"  # from the second retry
    assert text(chain[4]) == "echo: anonymous [[fail:transient:1]]"  # from the first
    assert chain[3]["error_json"]["code"] == "invalid_request"

    one_step = merged(client, first["id"])  # merging stops at the batch asked for
    assert [r["custom_id"] for r in one_step] == ids
    assert [r["status"] for r in one_step] == ["completed", "completed", "failed", "failed", "completed", "completed"]

    assert merged(client, original["id"]) == result_rows(client, original["id"])  # not a retry: its own rows
    assert result_rows(client, second["id"]) == [chain[2], chain[3]]  # without merged: its own rows

    document_ = client.get(f"/v1/batches/{second['id']}/results", params={"merged": "true"}).json()
    assert document_["batch_id"] == second["id"] and document_["results"] == chain
    assert document_["output_url"].endswith(f"/v1/batches/{second['id']}/results.jsonl?merged=true")
    download = client.get(f"/v1/batches/{second['id']}/results.jsonl?merged=true")
    assert download.headers["x-sference-partial"] == "false"
    assert f"{second['id']}-merged.jsonl" in download.headers["content-disposition"]


@pytest.mark.parametrize("server_overrides", [WITH_SLOW])
def test_cancelled_rows_are_retried_and_their_new_outcome_wins(api: Api) -> None:
    client = api.user("ann")
    rows = [chat_row(f"r{i}", f"row {i} " + "word " * 10, model=SLOW_MODEL) for i in range(8)]
    created = client.post("/v1/batches", json=document(rows)).json()
    cancelled = client.post(f"/v1/batches/{created['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    not_run = cancelled["request_counts"]["cancelled"]
    assert not_run >= 4  # two rows at a time, half a second each

    again = retry(client, created["id"]).json()
    assert again["request_count"] == not_run and again["model"] == SLOW_MODEL
    retried = wait_terminal(client, again["id"])
    assert retried["status"] == "completed" and retried["request_counts"]["completed"] == not_run

    rows_out = merged(client, again["id"])
    assert [r["custom_id"] for r in rows_out] == [f"r{i}" for i in range(8)]
    assert all(r["status"] == "completed" and r["error_json"] is None for r in rows_out)
    assert [text(r) for r in rows_out] == [f"echo: row {i} " + " ".join(["word"] * 10) for i in range(8)]


@pytest.mark.parametrize("server_overrides", [WITH_SLOW])
def test_merged_results_of_a_running_retry_keep_the_earlier_outcome_of_rows_not_yet_run(api: Api) -> None:
    client = api.user("ann")
    rows = [chat_row(f"r{i}", f"row {i} " + "word " * 20, model=SLOW_MODEL) for i in range(6)]
    created = client.post("/v1/batches", json=document(rows)).json()
    assert client.post(f"/v1/batches/{created['id']}/cancel").json()["status"] == "cancelled"
    again = retry(client, created["id"]).json()
    download = client.get(f"/v1/batches/{again['id']}/results.jsonl?merged=true")
    assert download.headers["x-sference-partial"] == "true"
    early = [json.loads(line) for line in download.text.splitlines()]
    assert [r["custom_id"] for r in early] == [f"r{i}" for i in range(6)]
    assert early[-1]["status"] == "cancelled"  # its retry has not run yet: the cancelled outcome stands
    assert client.get(f"/v1/batches/{again['id']}/results?merged=true").json()["results"] is None
    wait_terminal(client, again["id"])
    assert {r["status"] for r in merged(client, again["id"])} == {"completed"}


def test_only_a_finished_batch_with_unfinished_rows_can_be_retried(api: Api) -> None:
    user_id, key = api._make_user("ann")
    client = api.client(key)
    pending, _ = seed_batch(api.services.db, user_id, 2, model="unserved")  # no worker takes these
    refused = retry(client, pending)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"batch {pending} has not started; only a completed, failed or cancelled batch can be retried"
    )

    done = submit(client, [chat_row("a", "fine"), chat_row("b", "fine")])
    nothing = retry(client, done["id"])
    assert nothing.status_code == 409
    assert nothing.json()["detail"] == f"batch {done['id']} has nothing to retry: all 2 of its requests completed"

    # Cancelled, but its model is no longer served: refused as a submission of it would be.
    client.post(f"/v1/batches/{pending}/cancel")
    gone = retry(client, pending)
    assert gone.status_code == 409
    assert gone.json()["detail"].startswith(f"batch {pending} cannot be retried: the request of custom_id 'r0'")
    assert "'unserved'" in gone.json()["detail"]
    with api.services.db.read() as tx:
        assert tx.execute(select(func.count()).select_from(batches)).scalar_one() == 2  # nothing left behind


def test_another_users_batch_is_not_found(api: Api) -> None:
    ann, bob = api.user("ann"), api.user("bob")
    batch = submit(ann, [chat_row("x", "[[fail:permanent]]")])
    for path in (f"/v1/batches/{batch['id']}/retry", "/v1/batches/nope/retry"):
        response = bob.post(path)
        assert response.status_code == 404 and response.json()["detail"].startswith("no batch with id")
    assert bob.get(f"/v1/batches/{batch['id']}/results.jsonl?merged=true").status_code == 404
    assert bob.get("/v1/batches").json()["items"] == []


def test_a_retried_retry_with_one_idempotency_key_makes_one_batch(api: Api) -> None:
    client = api.user("ann")
    batch = submit(client, [chat_row("x", "[[fail:permanent]]")])
    first = retry(client, batch["id"], **{"Idempotency-Key": "again-1"})
    second = retry(client, batch["id"], **{"Idempotency-Key": "again-1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert retry(client, batch["id"], **{"Idempotency-Key": "again-2"}).json()["id"] != first.json()["id"]
    bad = retry(client, batch["id"], **{"Idempotency-Key": ""})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["detail"]
    with api.services.db.read() as tx:
        count = tx.execute(select(func.count()).select_from(batches).where(batches.c.retry_of == batch["id"]))
        assert count.scalar_one() == 2


def test_the_console_offers_a_retry_of_a_finished_batch_with_failures(api: Api) -> None:
    _, key = api.person("ann")
    worker = api.client(key)
    original = submit(worker, [chat_row("good", "hello"), chat_row("flaky", "once [[fail:transient:1]]")])
    clean = submit(worker, [chat_row("good", "hello")])
    console = sign_in(api.url, "ann", PASSWORD)
    page = console.get(f"/batches/{original['id']}").text
    assert "Retry failed rows" in page and "Download merged results" not in page and "Retry of" not in page
    assert "Retry failed rows" not in console.get(f"/batches/{clean['id']}").text

    forged = console.post(f"/batches/{original['id']}/retry", data={"retry_key": "k"})
    assert forged.status_code == 403
    key_on_page = re.search(r'name="retry_key" value="([0-9a-f]+)"', page)
    assert key_on_page is not None
    form = {"csrf_token": csrf_of(page), "retry_key": key_on_page.group(1)}
    made = console.post(f"/batches/{original['id']}/retry", data=form)
    assert made.status_code == 303
    retry_id = made.headers["location"].removeprefix("/batches/")
    assert console.post(f"/batches/{original['id']}/retry", data=form).headers["location"] == made.headers["location"]
    assert worker.get(f"/v1/batches/{retry_id}").json()["retry_of"] == original["id"]  # one retry, twice clicked

    wait_terminal(worker, retry_id)
    detail = console.get(f"/batches/{retry_id}").text
    assert f'href="/batches/{original["id"]}"' in detail and "Download merged results" in detail
    assert "Retry failed rows" not in detail  # all its rows completed
    download = console.get(f"/batches/{retry_id}/results.jsonl?merged=true")
    assert download.status_code == 200 and f"{retry_id}-merged.jsonl" in download.headers["content-disposition"]
    assert [json.loads(line)["status"] for line in download.text.splitlines()] == ["completed", "completed"]

    refused = console.post(f"/batches/{retry_id}/retry", data={"csrf_token": csrf_of(detail)})
    assert refused.status_code == 409 and "<html" in refused.text and "nothing to retry" in refused.text


def test_a_merge_across_many_pages_keeps_every_row_once_in_order(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 4 rows (the server runs in this process): the merge walks the original and the
    retry page by page, one read transaction each, and still lines every row up."""
    monkeypatch.setattr(batch_retries, "RESULTS_PAGE", 8)
    monkeypatch.setattr(batch_retries, "MIN_MERGE_PAGE", 3)
    client = api.user("ann")

    def content(i: int) -> str:
        return f"row {i}" + (" [[fail:transient:1]]" if i % 3 == 0 else " [[fail:permanent]]" if i % 5 == 0 else "")

    original = submit(client, [chat_row(f"r{i}", content(i)) for i in range(30)])
    again = wait_terminal(client, retry(client, original["id"]).json()["id"])
    assert again["request_count"] == 14 and again["request_counts"]["failed"] == 4
    with statements_run(api.services.db) as statements:
        rows = merged(client, again["id"])
    assert [r["custom_id"] for r in rows] == [f"r{i}" for i in range(30)]
    assert [i for i, r in enumerate(rows) if r["status"] == "failed"] == [5, 10, 20, 25]
    assert all(text(r) == f"echo: {content(i)}" for i, r in enumerate(rows) if r["status"] == "completed")
    pages = [s for s, _ in statements if "FROM items" in s and "row_index >" in s]
    assert len(pages) >= 30 // 4 + 14 // 4  # read a page at a time, not whole


def test_a_batch_made_through_the_openai_batch_api_is_retried_as_a_sference_batch(api: Api) -> None:
    _, key = api._make_user("ann")
    openai, client = OpenAI(base_url=f"{api.url}/openai/v1", api_key=key, max_retries=0), api.client(key)
    lines = [line("a", "fine", url="/v1/responses"), line("b", "once [[fail:transient:1]]", url="/v1/responses")]
    made = openai.batches.create(input_file_id=upload(openai, lines), endpoint="/v1/responses", completion_window="24h")
    assert finish(openai, made.id).request_counts.failed == 1
    again = retry(client, made.id)
    assert again.status_code == 201 and again.json()["retry_of"] == made.id
    assert wait_terminal(client, again.json()["id"])["status"] == "completed"
    rows = merged(client, again.json()["id"])
    assert [(r["custom_id"], r["status"]) for r in rows] == [("a", "completed"), ("b", "completed")]
    assert text(rows[1]) == "echo: once [[fail:transient:1]]"


def test_a_retry_bigger_than_the_batch_limit_now_allows_is_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    client = api.user("ann")
    original = submit(client, [chat_row(f"r{i}", "[[fail:permanent]]") for i in range(3)])
    lowered = api.services.settings.model_copy(update={"max_batch_requests": 2})  # an admin lowered it since
    monkeypatch.setattr(api.services.batch_retries, "settings", lowered)
    refused = retry(client, original["id"])
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"batch {original['id']} has more rows to retry than a batch may hold (2)"
    with api.services.db.read() as tx:
        assert tx.execute(select(func.count()).select_from(batches)).scalar_one() == 1


def test_a_retry_counts_against_the_queued_items_limit(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    client = api.user("ann")
    original = submit(client, [chat_row(f"r{i}", "[[fail:permanent]]") for i in range(3)])
    monkeypatch.setattr(api.services.lifecycle, "max_queued_items", 2)
    refused = retry(client, original["id"])
    assert refused.status_code == 429 and refused.json()["extra"]["limit"] == "max_queued_items"
    with api.services.db.read() as tx:
        assert tx.execute(select(func.count()).select_from(batches)).scalar_one() == 1
