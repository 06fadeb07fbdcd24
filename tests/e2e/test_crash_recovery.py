"""Separate API and worker processes: a worker killed with SIGKILL loses no accepted work, and
several processes share one PostgreSQL store."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import select

from sference_server.store.database import Database
from sference_server.store.tables import completion_events
from support.batches import result_rows, wait_terminal

from .conftest import Start

pytestmark = pytest.mark.slow
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"
KEY = "sk_e2e_admin_key_0123456789abcdef"


def rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "custom_id": f"req-{i}",
            "body": {
                "model": EMBEDDED,
                "max_tokens": 6,
                "temperature": 0,
                "messages": [{"role": "user", "content": f"Say the number {i}."}],
            },
        }
        for i in range(n)
    ]


def env(database_url: str, threads: int = 2) -> dict[str, str]:
    model = {"id": EMBEDDED, "engine": "llamacpp", "options": {"slots": 8, "ctx_per_slot": 256, "threads": threads}}
    return {
        "SFERENCE_DATABASE_URL": database_url,
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_LEASE_SECONDS": "3",
        "SFERENCE_SWEEP_SECONDS": "0.5",
        "SFERENCE_POLL_SECONDS": "0.1",
        "SFERENCE_MODELS": json.dumps([model]),
    }


def completed_count(client: httpx.Client, batch_id: str) -> int:
    return int(client.get(f"/v1/batches/{batch_id}").json()["request_counts"]["completed"])


def assert_exactly_once(client: httpx.Client, batch_id: str, n: int, database_url: str) -> None:
    results = result_rows(client, batch_id)
    assert Counter(r["custom_id"] for r in results) == Counter(f"req-{i}" for i in range(n))
    assert all(r["status"] == "completed" for r in results)
    assert all(r["result_json"]["choices"][0]["message"]["content"] for r in results)
    db = Database(database_url)
    with db.read() as conn:
        events = conn.execute(select(completion_events.c.item_id).where(completion_events.c.batch_id == batch_id))
        per_item = Counter(events.scalars())
    db.dispose()
    assert len(per_item) == n and set(per_item.values()) == {1}


def test_a_killed_worker_loses_nothing(start: Start, database_url: str) -> None:
    api = start("api", "--port", "0", env=env(database_url))
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    batch_id = client.post("/v1/batches", json={"window": "24h", "requests": rows(200)}).json()["id"]

    doomed = start("worker", env=env(database_url))
    deadline = time.monotonic() + 120
    while completed_count(client, batch_id) < 20:
        assert time.monotonic() < deadline, doomed.output()
        time.sleep(0.1)
    doomed.kill()
    stranded = client.get(f"/v1/batches/{batch_id}").json()["request_counts"]
    assert stranded["running"] > 0 and stranded["completed"] < 200  # it died holding work

    start("worker", env=env(database_url))
    batch = wait_terminal(client, batch_id, timeout=300)
    assert batch["status"] == "completed", batch
    assert batch["request_counts"]["completed"] == 200
    assert_exactly_once(client, batch_id, 200, database_url)


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_apis_and_two_workers_share_one_postgres(start: Start, database_url: str) -> None:
    apis = [start("api", "--port", "0", env=env(database_url)) for _ in range(2)]
    for _ in range(2):
        start("worker", env=env(database_url, threads=1))
    first, second = (httpx.Client(base_url=a.url, headers={"X-API-Key": KEY}, timeout=30) for a in apis)
    batch_id = first.post("/v1/batches", json={"window": "24h", "requests": rows(300)}).json()["id"]
    assert second.get(f"/v1/batches/{batch_id}").status_code == 200
    batch = wait_terminal(second, batch_id, timeout=400)
    assert batch["status"] == "completed" and batch["request_counts"]["completed"] == 300
    assert_exactly_once(first, batch_id, 300, database_url)
    assert result_rows(first, batch_id) == result_rows(second, batch_id)
