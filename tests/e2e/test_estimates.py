"""A batch's completion estimate, taken early, is within 20% of when it really finishes: an API
process and a worker process (the API learns the throughput from the store only), the echo
engine sleeping per token."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx

from support.batches import TERMINAL, chat_row, document, wait_terminal
from support.settings import ECHO_MODEL

from .conftest import Start

KEY = "sk_estimates_test_0123456789abcdef"
# "echo:" and nine words: ten tokens of 0.1 s, one second a request; four slots, four a second.
PROMPT = "one two three four five six seven eight nine"
MODELS = [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 4, "token_delay": 0.1}}]
WARM_UP = 16  # about 4 s
ROWS = 48  # about 12 s


def seconds(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def submit(client: httpx.Client, count: int, name: str) -> dict[str, Any]:
    rows = [chat_row(f"{name}-{i}", PROMPT) for i in range(count)]
    created = client.post("/v1/batches", json=document(rows))
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def test_an_early_estimate_is_within_a_fifth_of_the_real_finish(start: Start, database_url: str) -> None:
    env = {
        "SFERENCE_DATABASE_URL": database_url,
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_MODELS": json.dumps(MODELS),
        "SFERENCE_POLL_SECONDS": "0.05",
        # The "nothing measured" read at the warm-up's submission would otherwise stand for 5 s.
        "SFERENCE_ESTIMATE_CACHE_SECONDS": "1",
    }
    api = start("api", "--port", "0", env=env)
    start("worker", env=env)
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)

    warm = submit(client, WARM_UP, "warm")
    assert warm["estimated_completion_at"] is None and warm["feasible"] is None  # nothing measured yet
    assert wait_terminal(client, warm["id"], timeout=120)["status"] == "completed"

    batch = submit(client, ROWS, "run")
    assert batch["feasible"] is True and batch["estimated_completion_at"] is not None
    # Taken early: once a few rows finished, most of the batch still ahead.
    while True:
        current = client.get(f"/v1/batches/{batch['id']}").json()
        taken_at = time.time()
        if current["request_counts"]["completed"] >= 8 or current["status"] in TERMINAL:
            break
        time.sleep(0.1)
    assert current["status"] == "running", current
    estimate = seconds(current["estimated_completion_at"])
    done = wait_terminal(client, batch["id"], timeout=120)
    assert done["status"] == "completed" and done["estimated_completion_at"] is None
    finished = seconds(done["completed_at"])
    remaining = finished - taken_at
    assert remaining > 5, remaining  # long enough for 20% to mean something
    assert abs(estimate - finished) <= 0.2 * remaining, (estimate - taken_at, remaining)
