"""The batch API over real HTTP on a real store, with the echo engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from sference_server.domain.outcome import Usage
from sference_server.store.tables import batches, items
from support.batches import chat_row, document, result_rows, wait_terminal
from support.settings import ECHO_MODEL
from support.store import assert_counters_match, complete_with_usage, seed_batch

from .conftest import Api


def test_a_batch_runs_to_completion_with_results_in_input_order(api: Api) -> None:
    client = api.user("ann")
    rows = [chat_row(f"row-{i}", f"hello number {i}") for i in range(25)]
    rows.append({"custom_id": None, "body": {"model": ECHO_MODEL, "input": "responses shaped", "max_output_tokens": 2}})
    created = client.post("/v1/batches", json=document(rows))
    assert created.status_code == 201, created.text
    batch = created.json()
    assert batch["status"] == "pending" and batch["request_count"] == 26 and batch["window"] == "24h"
    assert isinstance(batch["created_at"], str) and batch["created_at"].endswith("+00:00")

    finished = wait_terminal(client, batch["id"])
    assert finished["status"] == "completed"
    assert finished["request_counts"] == {
        "total": 26,
        "queued": 0,
        "running": 0,
        "completed": 26,
        "failed": 0,
        "cancelled": 0,
        "expired": 0,
    }

    results = result_rows(client, batch["id"])
    assert [r["custom_id"] for r in results] == [f"row-{i}" for i in range(25)] + [None]
    assert all(r["status"] == "completed" and r["error_json"] is None for r in results)
    first = results[0]["result_json"]
    assert first["object"] == "chat.completion" and first["model"] == ECHO_MODEL
    assert first["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello number 0"}
    assert results[-1]["result_json"]["choices"][0]["message"]["content"] == "echo: responses"
    assert results[-1]["result_json"]["choices"][0]["finish_reason"] == "length"
    usage = [r["result_json"]["usage"] for r in results]
    assert finished["total_prompt_tokens"] == sum(u["prompt_tokens"] for u in usage)
    assert finished["total_completion_tokens"] == sum(u["completion_tokens"] for u in usage)
    assert finished["total_tokens"] == finished["total_prompt_tokens"] + finished["total_completion_tokens"]
    assert finished["usage"] == {
        "input_tokens": finished["total_prompt_tokens"],
        "output_tokens": finished["total_completion_tokens"],
        "total_tokens": finished["total_tokens"],
        "input_tokens_details": {"cached_tokens": 0},  # the echo engine caches nothing
        "output_tokens_details": {"reasoning_tokens": 0},
        "cached_share": 0.0,
    }

    document_results = client.get(f"/v1/batches/{batch['id']}/results").json()
    assert document_results["batch_id"] == batch["id"] and document_results["status"] == "completed"
    assert document_results["results"] == results
    assert document_results["output_url"].endswith(f"/v1/batches/{batch['id']}/results.jsonl")
    assert_counters_match(api.services.db, batch["id"])


def test_a_batch_reports_its_cached_token_share(api: Api) -> None:
    """Outcomes recorded as a worker would (the echo engine reports no cached tokens): the
    batch object sums them."""
    user, key = api._make_user("ann")
    client = api.client(key)
    batch_id, _ = seed_batch(api.services.db, user, 3, model="unserved")  # no worker takes these
    assert client.get(f"/v1/batches/{batch_id}").json()["usage"]["cached_share"] == 0.0
    complete_with_usage(api.services.db, "unserved", [Usage(1000, 10, 900, 3), Usage(2000, 20, 1500), Usage(1, 1)])
    batch = client.get(f"/v1/batches/{batch_id}").json()
    assert batch["status"] == "completed"
    assert batch["usage"] == {
        "input_tokens": 3001,
        "output_tokens": 31,
        "total_tokens": 3032,
        "input_tokens_details": {"cached_tokens": 2400},
        "output_tokens_details": {"reasoning_tokens": 3},
        "cached_share": 0.7997,
    }
    assert (batch["total_prompt_tokens"], batch["total_completion_tokens"]) == (3001, 31)
    assert client.get("/v1/batches").json()["items"][0]["usage"] == batch["usage"]


def test_list_and_get(api: Api) -> None:
    client = api.user("ann")
    ids = [client.post("/v1/batches", json=document([chat_row("a", "x")])).json()["id"] for _ in range(3)]
    listed = client.get("/v1/batches").json()
    assert [b["id"] for b in listed["items"]] == ids[::-1]
    page = client.get("/v1/batches", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["has_more"] is True
    rest = client.get("/v1/batches", params={"limit": 2, "before": page["next_before"]}).json()
    assert [b["id"] for b in rest["items"]] == [ids[0]]
    assert client.get(f"/v1/batches/{ids[0]}").json()["id"] == ids[0]


BAD_ROWS: list[tuple[str, list[dict[str, Any]], str, str]] = [
    (
        "no messages",
        [chat_row("a", "ok"), {"custom_id": "b", "body": {"model": ECHO_MODEL}}],
        "requests[1]",
        "non-empty messages list or Responses API input",
    ),
    (
        "empty messages",
        [{"custom_id": "a", "body": {"model": ECHO_MODEL, "messages": []}}],
        "requests[0]",
        "body.messages",
    ),
    ("unknown model", [chat_row("a", "x", model="gpt-nope")], "requests[0]", ECHO_MODEL),
    ("mixed models", [chat_row("a", "x"), chat_row("b", "x", model="other")], "requests[1]", "one model"),
    ("background", [chat_row("a", "x", background=True)], "requests[0]", "background is not supported"),
    ("duplicate custom_id", [chat_row("a", "x"), chat_row("a", "y")], "requests[1]", "duplicate custom_id 'a'"),
    ("temperature", [chat_row("a", "x", temperature=9)], "requests[0]", "temperature"),
    ("max_tokens too big", [chat_row("a", "x", max_tokens=10**7)], "requests[0]", "limit"),
    ("body not object", [{"custom_id": "a", "body": "hi"}], "requests[0]", "JSON object"),
    ("row not object", [["a"]], "requests[0]", "object"),
    ("custom_id type", [{"custom_id": 5, "body": chat_row(None, "x")["body"]}], "requests[0]", "custom_id"),
    ("unknown row field", [{**chat_row("a", "x"), "priority": 1}], "requests[0]", "priority"),
]


@pytest.mark.parametrize(("case", "rows", "where", "fragment"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_bad_rows_are_rejected_naming_the_row_and_leave_nothing(
    api: Api, case: str, rows: list[dict[str, Any]], where: str, fragment: str
) -> None:
    client = api.user("ann")
    response = client.post("/v1/batches", json=document(rows))
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"} and body["status_code"] == 400
    assert body["detail"].startswith(where), body["detail"]
    assert fragment in body["detail"] or any(fragment in e["message"] for e in body["extra"]), body
    custom_id = rows[int(where[9:-1])].get("custom_id") if isinstance(rows[int(where[9:-1])], dict) else None
    if isinstance(custom_id, str):
        assert f"custom_id {custom_id!r}" in body["detail"]
        assert body["extra"][0]["custom_id"] == custom_id
    assert client.get("/v1/batches").json()["items"] == []
    with api.services.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(items)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(batches)).scalar() == 0


def test_an_unserved_model_is_reported_once_for_the_whole_batch(api: Api) -> None:
    client = api.user("ann")
    rows = [chat_row(f"r{i}", "x", model="gpt-nope") for i in range(3)] + [chat_row("bad", "x", temperature=9)]
    response = client.post("/v1/batches", json=document(rows))
    assert response.status_code == 400, response.text
    problems = [(e["loc"], e["message"]) for e in response.json()["extra"]]
    assert [loc for loc, message in problems if "is not served here" in message] == ["requests[0].body.model"]
    assert ("requests[3].body.temperature", "must be a number >= 0 and <= 2, got 9") in problems


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (b"not json at all", 400, "JSON object"),
        (b'{"window": "24h", "requests": [', 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"window": "24h"}', 400, "non-empty list"),
        (b'{"window": "24h", "requests": []}', 400, "non-empty list"),
        (json.dumps(document([chat_row("a", "x")], window="1h")).encode(), 400, "window"),
    ],
)
def test_malformed_documents_get_a_clear_4xx(api: Api, payload: bytes, status: int, fragment: str) -> None:
    client = api.user("ann")
    response = client.post("/v1/batches", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert client.get("/v1/batches").json()["items"] == []


@pytest.mark.parametrize("server_overrides", [{"max_batch_bytes": 2000, "max_batch_requests": 3}])
def test_size_limits(api: Api) -> None:
    client = api.user("ann")
    big = client.post("/v1/batches", json=document([chat_row(f"r{i}", "x" * 1000) for i in range(3)]))
    assert big.status_code == 413 and "limit" in big.json()["detail"]

    def chunks() -> Any:
        yield b'{"window": "24h", "requests": ['
        for i in range(40):
            yield json.dumps(chat_row(f"r{i}", "y" * 60)).encode() + b","
        yield b"]}"

    streamed = client.post("/v1/batches", content=chunks())  # no content-length: caught while reading
    assert streamed.status_code == 413
    many = client.post("/v1/batches", json=document([chat_row(f"r{i}", "x") for i in range(4)]))
    assert many.status_code == 400 and "at most 3" in many.json()["detail"]
    assert client.get("/v1/batches").json()["items"] == []


def test_keys_are_required_and_checked(api: Api) -> None:
    _, key = api._make_user("ann")
    for client in (api.client(None), api.client("sk_wrong"), api.client("Basic abc")):
        response = client.get("/v1/batches")
        assert response.status_code == 401
        assert response.json()["status_code"] == 401 and response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.client(key, header="x-api-key").get("/v1/batches").status_code == 200
    assert api.client(key).get("/v1/auth/me").json()["username"] == "ann"
    api.services.accounts.revoke_key(key[:12])
    revoked = api.client(key).get("/v1/batches")
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_a_read_only_key_cannot_submit(api: Api) -> None:
    client = api.user("ann", scopes="read")
    response = client.post("/v1/batches", json=document([chat_row("a", "x")]))
    assert response.status_code == 403 and "write" in response.json()["detail"]
    assert client.get("/v1/batches").status_code == 200


def test_other_users_objects_are_not_found(api: Api) -> None:
    ann, bob = api.user("ann"), api.user("bob")
    batch_id = ann.post("/v1/batches", json=document([chat_row("a", "x")])).json()["id"]
    for method, path in [
        ("GET", f"/v1/batches/{batch_id}"),
        ("GET", f"/v1/batches/{batch_id}/results"),
        ("GET", f"/v1/batches/{batch_id}/results.jsonl"),
        ("POST", f"/v1/batches/{batch_id}/cancel"),
    ]:
        response = bob.request(method, path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["status_code"] == 404
    assert bob.get("/v1/batches").json()["items"] == []
    assert wait_terminal(ann, batch_id)["status"] == "completed"


@pytest.mark.parametrize(
    "server_overrides",
    [{"models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 2, "token_delay": 0.05}}]}],
)
def test_cancel_keeps_finished_results_and_stops_the_rest(api: Api) -> None:
    client = api.user("ann")
    rows = [chat_row(f"r{i}", "one two three four") for i in range(40)]
    batch_id = client.post("/v1/batches", json=document(rows)).json()["id"]
    while client.get(f"/v1/batches/{batch_id}").json()["request_counts"]["completed"] < 2:
        pass
    cancelled = client.post(f"/v1/batches/{batch_id}/cancel", headers={"content-type": "application/json"})
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["cancelled_at"] is not None
    counts = body["request_counts"]
    assert counts["completed"] >= 2 and counts["cancelled"] >= 30
    assert counts["queued"] == counts["running"] == 0
    results = result_rows(client, batch_id)
    assert len(results) == 40
    assert {r["status"] for r in results} == {"completed", "cancelled"}
    assert all(r["error_json"]["code"] == "batch_cancelled" for r in results if r["status"] == "cancelled")
    assert client.post(f"/v1/batches/{batch_id}/cancel").json()["status"] == "cancelled"  # idempotent
    assert_counters_match(api.services.db, batch_id)


def test_cancelling_a_finished_batch_is_a_conflict(api: Api) -> None:
    client = api.user("ann")
    batch_id = client.post("/v1/batches", json=document([chat_row("a", "x")])).json()["id"]
    wait_terminal(client, batch_id)
    response = client.post(f"/v1/batches/{batch_id}/cancel")
    assert response.status_code == 409 and "completed" in response.json()["detail"]


def test_unknown_ids_and_paths_answer_json_404(api: Api) -> None:
    client = api.user("ann")
    for path in ("/v1/batches/nope", "/v1/batches/nope/results", "/v1/batches/nope/results.jsonl", "/v1/nothing"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["status_code"] == 404
    assert client.get("/v1/batches/").status_code == 404  # exact paths: no redirect
