"""Metrics across processes: an ``api`` and a ``worker`` sharing ``PROMETHEUS_MULTIPROC_DIR``
report together through the API's ``/metrics``; the worker also answers on its admin port."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support.batches import chat_row, document, wait_terminal
from support.settings import ECHO_MODEL

from .conftest import Start

KEY = "sk_metrics_test_0123456789abcdef"
TOKEN = "scrape-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def admin_url(log: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"metrics on (http://\S+)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise TimeoutError(log.read_text(errors="replace"))


def test_api_and_worker_report_together(start: Start, database_url: str, tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        "SFERENCE_DATABASE_URL": database_url,
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_MODELS": json.dumps([{"id": ECHO_MODEL, "engine": "echo"}]),
        "SFERENCE_POLL_SECONDS": "0.05",
        "SFERENCE_METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    api = start("api", "--port", "0", env=env)
    worker = start("worker", env={**env, "SFERENCE_METRICS_PORT": "0"})
    client = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    rows = [chat_row(f"r{i}", f"request {i}") for i in range(5)] + [chat_row("bad", "[[fail:permanent]]")]
    batch = wait_terminal(client, client.post("/v1/batches", json=document(rows)).raise_for_status().json()["id"])
    assert batch["status"] == "completed"

    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    merged = samples(scraped.text)
    completed = ("sference_items_finished_total", (("error_code", ""), ("model", ECHO_MODEL), ("status", "completed")))
    assert merged[completed] == 5  # counted by the worker process, read through the API's
    failed = (
        "sference_items_finished_total",
        (("error_code", "invalid_request"), ("model", ECHO_MODEL), ("status", "failed")),
    )
    assert merged[failed] == 1
    assert (
        merged["sference_tokens_total", (("kind", "output"), ("model", ECHO_MODEL))] == batch["total_completion_tokens"]
    )
    posted = (
        "sference_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/v1/batches"), ("status", "201")),
    )
    assert merged[posted] == 1  # counted by the API process
    # the worker's slots are live gauges of a running process
    assert merged["sference_engine_slots", (("model", ECHO_MODEL),)] > 0

    own = httpx.get(admin_url(worker.log_path)).text  # no token: an admin port, on loopback
    assert samples(own)[completed] == 5
    assert "# HELP sference_queue_items " in own and "# HELP sference_queue_items " in scraped.text

    worker.stop()  # its live gauges leave with it; its counters stay
    after = samples(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    assert after[completed] == 5
    assert ("sference_engine_slots", (("model", ECHO_MODEL),)) not in after
