"""PostgreSQL restarts in the middle of a batch and a stream: sference rides it out without being
restarted. Every request finishes exactly once, and readiness reports the outage while it lasts."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from sference_server.store.database import Database
from sference_server.store.tables import completion_events, items
from support.batches import chat_row, result_rows, wait_terminal
from support.postgres import Cluster, PostgresUnavailable, create_database, own_cluster
from support.settings import ECHO_MODEL

from .conftest import Start

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
KEY = "sk_e2e_admin_key_0123456789abcdef"
BATCH_ROWS, STREAM_REQUESTS = 60, 20


@pytest.fixture
def restartable() -> Iterator[Cluster]:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""
    try:
        with own_cluster() as server:
            yield server
    except PostgresUnavailable as exc:
        if os.environ.get("SFERENCE_TEST_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(str(exc))


def env(database_url: str) -> dict[str, str]:
    model = {"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 4, "token_delay": 0.03}}
    return {
        "SFERENCE_DATABASE_URL": database_url,
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_LEASE_SECONDS": "6",
        "SFERENCE_SWEEP_SECONDS": "0.5",
        "SFERENCE_POLL_SECONDS": "0.1",
        "SFERENCE_MODELS": json.dumps([model]),
    }


def ready(client: httpx.Client) -> int:
    try:
        return client.get("/v1/health/ready").status_code
    except httpx.HTTPError:
        return 0


def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("layout", ["serve", "api+worker"])
def test_a_database_restart_mid_run_loses_and_repeats_nothing(layout: str, start: Start, restartable: Cluster) -> None:
    database_url = create_database(restartable.url)
    if layout == "serve":
        api = start("serve", "--port", "0", env=env(database_url))
    else:
        api = start("api", "--port", "0", env=env(database_url))
        start("worker", env=env(database_url))
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    words = " ".join(["word"] * 12)
    batch_id = client.post(
        "/v1/batches", json={"window": "24h", "requests": [chat_row(f"r{i}", words) for i in range(BATCH_ROWS)]}
    ).json()["id"]
    stream_id = client.post("/v1/streams", json={"name": "through-the-outage"}).json()["id"]
    for i in range(STREAM_REQUESTS):
        body = {"model": ECHO_MODEL, "input": f"{words} {i}", "metadata": {"stream_id": stream_id}}
        client.post("/v1/responses", json=body).raise_for_status()
    wait_for(lambda: client.get(f"/v1/batches/{batch_id}").json()["request_counts"]["completed"] >= 5, "progress")

    restartable.stop()
    wait_for(lambda: ready(client) == 503, "readiness to report the outage", timeout=15)
    time.sleep(2.0)  # the worker keeps running requests and retrying its writes meanwhile
    restartable.start()

    batch = wait_terminal(client, batch_id, timeout=180)
    assert batch["status"] == "completed" and batch["request_counts"]["completed"] == BATCH_ROWS, batch
    assert Counter(r["custom_id"] for r in result_rows(client, batch_id)) == Counter(f"r{i}" for i in range(BATCH_ROWS))
    stream = client.get(f"/v1/streams/{stream_id}")
    wait_for(
        lambda: client.get(f"/v1/streams/{stream_id}").json()["completed_items"] == STREAM_REQUESTS,
        f"the stream's requests to finish ({stream.json()})",
        timeout=120,
    )
    wait_for(lambda: ready(client) == 200, "readiness to recover", timeout=30)

    db = Database(database_url)
    try:
        with db.read() as tx:
            per_item = Counter(tx.execute(select(completion_events.c.item_id)).scalars())
            statuses = Counter(tx.execute(select(items.c.status)).scalars())
    finally:
        db.dispose()
    assert statuses == {"completed": BATCH_ROWS + STREAM_REQUESTS}
    assert len(per_item) == BATCH_ROWS + STREAM_REQUESTS and set(per_item.values()) == {1}
