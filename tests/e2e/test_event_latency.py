"""A long-polling consumer on one process sees completions made by a worker in another process
quickly: PostgreSQL LISTEN/NOTIFY, SQLite's data_version watcher."""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import datetime

import httpx

from support.settings import ECHO_MODEL

from .conftest import Start

KEY = "sk_latency_test_0123456789abcdef"


def test_events_cross_processes_quickly(start: Start, database_url: str) -> None:
    env = {
        "SFERENCE_DATABASE_URL": database_url,
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_MODELS": json.dumps([{"id": ECHO_MODEL, "engine": "echo"}]),
        "SFERENCE_POLL_SECONDS": "0.05",
    }
    api = start("api", "--port", "0", env=env)
    start("worker", env=env)
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    body = {"model": ECHO_MODEL, "input": "warm up"}
    first = client.post("/v1/responses", json=body).json()
    cursor = None
    while cursor is None:
        page = client.get("/v1/responses/events", params={"wait_ms": 5000}).json()
        cursor = page["data"][-1]["completion_id"] if page["data"] else None
    assert page["data"][-1]["response_id"] == first["id"]

    delays = []
    for i in range(6):
        # The consumer is already waiting when the work is submitted.
        submit = threading.Timer(
            0.3, client.post, args=("/v1/responses",), kwargs={"json": {"model": ECHO_MODEL, "input": f"probe {i}"}}
        )
        submit.start()
        page = client.get("/v1/responses/events", params={"starting_after": cursor, "wait_ms": 10_000}).json()
        received = time.time()
        submit.join()
        (event,) = page["data"]
        cursor = event["completion_id"]
        delays.append(received - datetime.fromisoformat(event["completed_at"]).timestamp())
    # Without the cross-process wake-up the feed would still answer, but only at its 1 s re-check.
    assert statistics.median(delays) < 0.3, delays
