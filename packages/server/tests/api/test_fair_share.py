"""Fair share between users, through the API and a real worker: one user's big batch does not
hold back another user's small one submitted after it with the same window."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sference_server.config import ModelSpec
from support.batches import chat_row, document, wait_terminal
from support.settings import ECHO_MODEL

from .conftest import Api


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    # Two requests at a time, a few milliseconds each: the big batch takes seconds.
    return {"models": [ModelSpec(id=ECHO_MODEL, engine="echo", options={"slots": 1, "token_delay": 0.005})]}


def test_a_small_batch_finishes_first_behind_another_users_big_one(api: Api) -> None:
    big, small = api.user("big"), api.user("small")
    words = " ".join(["w"] * 4)
    big_id = big.post("/v1/batches", json=document([chat_row(f"b{i}", words) for i in range(300)])).json()["id"]
    deadline = time.monotonic() + 30
    while big.get(f"/v1/batches/{big_id}").json()["request_counts"]["completed"] < 10:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    small_id = small.post("/v1/batches", json=document([chat_row(f"s{i}", words) for i in range(10)])).json()["id"]
    assert wait_terminal(small, small_id, timeout=60)["status"] == "completed"
    counts = big.get(f"/v1/batches/{big_id}").json()["request_counts"]
    assert counts["completed"] < 150, counts  # far from done: the small batch was interleaved, not queued behind
