"""``SFERENCE_LOG_FORMAT=json``: a real ``serve`` process logs one JSON object a line, with the
request id on the request's lines and the item and batch ids on the worker's, and never a key or
a prompt."""

from __future__ import annotations

import json
from typing import Any

import httpx

from support.batches import wait_terminal
from support.settings import ECHO_MODEL

from .conftest import Start

KEY = "sk_logs_test_0123456789abcdefghij"
SECRET = "zebra-umbrella-7731"  # in every prompt; must never reach the log


def test_json_lines_carry_request_item_and_batch_ids_and_no_secrets(start: Start) -> None:
    env = {
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_MODELS": json.dumps([{"id": ECHO_MODEL, "engine": "echo"}]),
        "SFERENCE_LOG_FORMAT": "json",
        "SFERENCE_LOG_LEVEL": "INFO",
    }
    server = start("serve", "--port", "0", "--no-write-cli-credentials", env=env)
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    rows = [
        {"custom_id": "ok", "body": {"model": ECHO_MODEL, "messages": [{"role": "user", "content": SECRET}]}},
        {
            "custom_id": "bad",
            "body": {"model": ECHO_MODEL, "messages": [{"role": "user", "content": f"{SECRET} [[fail:permanent]]"}]},
        },
    ]
    created = client.post("/v1/batches", json={"window": "24h", "requests": rows}, headers={"X-Request-Id": "submit-1"})
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "submit-1"
    batch = wait_terminal(client, created.json()["id"])
    assert (batch["request_counts"]["completed"], batch["request_counts"]["failed"]) == (1, 1), batch
    server.stop()

    output = server.output()
    objects: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert objects, output
    for line in objects:
        assert {"time", "level", "logger", "message"} <= line.keys()
    assert SECRET not in output and KEY not in output

    (submit,) = [o for o in objects if o["logger"] == "sference.access" and o["request_id"] == "submit-1"]
    assert (submit["method"], submit["path"], submit["status"]) == ("POST", "/v1/batches", 201)
    failed = [o for o in objects if o["logger"] == "sference.worker" and "engine error" in o["message"]]
    assert len(failed) == 1, objects
    assert failed[0]["batch_id"] == batch["id"] and failed[0]["item_id"]
    assert "request_id" not in failed[0]  # the worker's line is about the item, not an HTTP request
