"""API versions: the key's version answers unless a Sference-Version header names another; the
versions differ in how /v1/responses renders output and whether POST /v1/responses blocks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sference_server.domain.states import ItemStatus
from sference_server.domain.versions import CURRENT, SEED
from sference_server.store.tables import items
from support.settings import ECHO_MODEL

from .conftest import Api

BODY = {"model": ECHO_MODEL, "input": "alpha beta gamma"}
WORDY = {"models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 2, "token_delay": 0.05}}]}


def client(api: Api, api_version: str | None = None, **headers: str) -> httpx.Client:
    _, key = api._make_user("ann", api_version=api_version)
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}", **headers}, timeout=30)


def wait_done(http: httpx.Client, response_id: str) -> dict[str, Any]:
    for _ in range(200):
        got = http.get(f"/v1/responses/{response_id}").json()
        if got["status"] != "in_progress":
            return got  # type: ignore[no-any-return]
        http.get("/v1/responses/events", params={"wait_ms": 100})
    raise AssertionError("the response did not finish")


def test_a_new_key_answers_in_the_seed_version_queued_and_flat(api: Api) -> None:
    with client(api) as http:
        created = http.post("/v1/responses", json=BODY)
        assert created.status_code == 201 and created.headers["sference-version"] == SEED.name
        assert created.json()["status"] == "in_progress" and created.json()["output"] == []
        done = wait_done(http, created.json()["id"])
    assert done["output"] == [{"type": "output_text", "text": "echo: alpha beta gamma"}]
    assert "incomplete_details" not in done


def test_a_current_key_blocks_and_answers_openai_output_items(api: Api) -> None:
    with client(api, "latest") as http:
        created = http.post("/v1/responses", json=BODY)
    assert created.status_code == 200 and created.headers["sference-version"] == CURRENT.name
    response = created.json()
    assert response["status"] == "completed" and response["incomplete_details"] is None
    (message,) = response["output"]
    assert message["type"] == "message" and message["role"] == "assistant" and message["status"] == "completed"
    assert message["content"] == [{"type": "output_text", "text": "echo: alpha beta gamma", "annotations": []}]
    assert response["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}


def test_the_header_overrides_the_keys_version_both_ways(api: Api) -> None:
    with client(api, SEED.name, **{"Sference-Version": "latest"}) as http:
        response = http.post("/v1/responses", json=BODY)
        assert response.headers["sference-version"] == CURRENT.name and response.json()["status"] == "completed"
        seen_as_seed = http.get(f"/v1/responses/{response.json()['id']}", headers={"Sference-Version": SEED.name})
    assert seen_as_seed.headers["sference-version"] == SEED.name
    assert seen_as_seed.json()["output"] == [{"type": "output_text", "text": "echo: alpha beta gamma"}]


def test_an_unknown_version_is_a_400_naming_the_header(api: Api) -> None:
    with client(api, **{"Sference-Version": "2024-01-01"}) as http:
        reply = http.get("/v1/auth/me")
    assert reply.status_code == 400
    assert "unknown API version '2024-01-01'" in reply.json()["detail"]
    assert reply.json()["extra"] == [{"loc": "header.Sference-Version", "message": "unknown version"}]


def test_unauthenticated_answers_name_a_version_too(api: Api) -> None:
    with httpx.Client(base_url=api.url) as http:
        assert http.get("/v1/health").headers["sference-version"] == SEED.name
        assert (
            http.get("/v1/health", headers={"Sference-Version": "latest"}).headers["sference-version"] == CURRENT.name
        )
        assert http.get("/v1/batches").headers["sference-version"] == SEED.name  # a 401


def test_background_and_stream_items_queue_in_the_current_version(api: Api) -> None:
    with client(api, CURRENT.name) as http:
        background = http.post("/v1/responses", json={**BODY, "background": True})
        assert background.status_code == 200 and background.json()["status"] == "in_progress"
        stream = http.post("/v1/streams", json={"name": "s", "window": "24h"}).json()
        item = http.post("/v1/responses", json={**BODY, "metadata": {"stream_id": stream["id"]}})
        assert item.json()["status"] == "in_progress"
        assert wait_done(http, item.json()["id"])["status"] == "completed"


def test_cut_by_the_length_limit_reads_incomplete_in_the_current_version(api: Api) -> None:
    with client(api, CURRENT.name) as http:
        response = http.post("/v1/responses", json={**BODY, "max_output_tokens": 2}).json()
        seed = http.get(f"/v1/responses/{response['id']}", headers={"Sference-Version": SEED.name}).json()
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "echo: alpha"
    assert seed["status"] == "completed"  # the seed has no incomplete status


@pytest.mark.parametrize("server_overrides", [{**WORDY, "blocking_response_seconds": 0.5}])
def test_a_blocking_response_past_the_limit_is_cancelled_with_504(api: Api) -> None:
    long = " ".join(f"w{i}" for i in range(100))  # 5 s of answer at 50 ms a word
    with client(api, CURRENT.name) as http:
        reply = http.post("/v1/responses", json={"model": ECHO_MODEL, "input": long})
    assert reply.status_code == 504 and "background: true" in reply.json()["detail"]
    with api.services.db.read() as tx:
        assert tx.execute(select(items.c.status)).scalar_one() == ItemStatus.CANCELLED


def test_a_keys_version_can_be_changed(api: Api) -> None:
    user_id, key = api._make_user("bob")
    accounts = api.services.accounts
    (row,) = accounts.list_keys(user_id=user_id)
    assert row.api_version == SEED.name
    assert accounts.set_key_version(row.id, "latest", user_id=user_id) == CURRENT.name
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.get("/v1/auth/me").headers["sference-version"] == CURRENT.name
