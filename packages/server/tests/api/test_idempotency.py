"""``Idempotency-Key`` on batch submissions: a retry gets the batch the first attempt made."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select, update

from sference_server.store.tables import batches, idempotency_keys
from support.batches import chat_row, document

from .conftest import Api
from .test_openai import client_for, line, upload


def submit(client: Any, key: str, rows: int = 3) -> Any:
    body = document([chat_row(f"r{i}", "hello") for i in range(rows)])
    return client.post("/v1/batches", json=body, headers={"Idempotency-Key": key})


def batch_count(api: Api) -> int:
    with api.services.db.read() as tx:
        return int(tx.execute(select(func.count()).select_from(batches)).scalar_one())


def test_a_retried_submission_gets_the_first_batch(api: Api) -> None:
    ann, bob = api.user("ann"), api.user("bob")
    first = submit(ann, "upload-1")
    again = submit(ann, "upload-1", rows=5)  # the key names the submission, whatever the body
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.json()["request_count"] == 3
    assert submit(bob, "upload-1").json()["id"] != first.json()["id"]  # keys are per user
    assert submit(ann, "upload-2").json()["id"] != first.json()["id"]
    assert batch_count(api) == 3


def test_concurrent_submissions_with_one_key_make_one_batch(api: Api) -> None:
    ann = api.user("ann")
    ids: list[str] = []
    start = threading.Barrier(4)

    def post() -> None:
        start.wait()
        response = submit(ann, "same")
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1 and batch_count(api) == 1


def test_a_refused_submission_leaves_no_key_and_a_bad_key_is_refused(api: Api) -> None:
    ann = api.user("ann")
    bad = ann.post("/v1/batches", json=document([{"custom_id": "x"}]), headers={"Idempotency-Key": "k"})
    assert bad.status_code == 400
    assert submit(ann, "k").status_code == 201  # the key was not used up by the refused attempt
    too_long = submit(ann, "x" * 256)
    assert too_long.status_code == 400 and "Idempotency-Key" in too_long.text
    assert batch_count(api) == 1


def test_a_key_is_kept_for_a_day(api: Api) -> None:
    ann = api.user("ann")
    first = submit(ann, "daily").json()["id"]
    with api.services.db.write() as tx:
        tx.execute(update(idempotency_keys).values(created_at=idempotency_keys.c.created_at - 86401))
    assert submit(ann, "daily").json()["id"] != first


def test_openai_batches_take_the_key_too(api: Api) -> None:
    client = client_for(api)
    file_id = upload(client, [line("a", "hello")])
    made = [
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_headers={"Idempotency-Key": "openai-1"},
        ).id
        for _ in range(2)
    ]
    assert made[0] == made[1] and batch_count(api) == 1
