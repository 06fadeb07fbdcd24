"""Building batch documents and waiting for batches, over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from .settings import ECHO_MODEL

TERMINAL = ("completed", "failed", "cancelled")


def chat_row(custom_id: str | None, content: str, *, model: str = ECHO_MODEL, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "body": {"model": model, "messages": [{"role": "user", "content": content}], **body},
    }


def document(rows: list[dict[str, Any]], window: str = "24h") -> dict[str, Any]:
    return {"window": window, "requests": rows}


def wait_terminal(client: httpx.Client, batch_id: str, *, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.get(f"/v1/batches/{batch_id}").raise_for_status().json()
        if batch["status"] in TERMINAL:
            return batch  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still {batch['status']} after {timeout} s: {batch}")
        time.sleep(0.05)


def result_rows(client: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/batches/{batch_id}/results.jsonl").raise_for_status()
    return [json.loads(line) for line in response.text.splitlines()]
