"""Memory does not grow with the size of a batch: after the server has run a 30,000-row batch
(accepted, run, exported), a 60,000-row one raises its peak RSS by less than 15 MB.

What may grow, and is bounded: the request body spooled in memory up to 16 MiB (api/bodies.py),
SQLite's page cache per connection. What must not: anything per row (parsed rows are spilled to a
file, rows are written in chunks, the worker claims only what it can record, the export is read
page by page). Growing per row even by 1 KB would add 30 MB here. Measured: 3,000 rows 129 MB,
30,000 rows 149 MB (the caches fill), 60,000 rows 155 MB.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from support.batches import chat_row, document, wait_terminal
from support.settings import ECHO_MODEL

from .conftest import Start

pytestmark = pytest.mark.slow
KEY = "sk_e2e_admin_key_0123456789abcdef"
ROWS = 30_000
ALLOWED_GROWTH_MB = 15


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def run_batch(client: httpx.Client, rows: int) -> None:
    body = document([chat_row(f"r{i}", f"request number {i}") for i in range(rows)])
    batch = client.post("/v1/batches", json=body, timeout=120).raise_for_status().json()
    assert wait_terminal(client, batch["id"], timeout=300)["request_counts"]["completed"] == rows
    seen = 0
    with client.stream("GET", f"/v1/batches/{batch['id']}/results.jsonl", timeout=120) as response:
        for line in response.iter_lines():
            seen += bool(line)
    assert seen == rows


def test_a_twice_bigger_batch_takes_no_more_memory(start: Start, tmp_path: Path) -> None:
    model = {"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 128}}
    env = {
        "SFERENCE_DATABASE_URL": f"sqlite:///{tmp_path / 'sference.db'}",
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_MODELS": json.dumps([model]),
        "SFERENCE_POLL_SECONDS": "0.05",
        # glibc gives each thread that allocates an arena of its own, and which threads of the
        # pools (anyio's, the store's) first allocate during the bigger batch is luck: up to
        # ~12 MB of peak RSS that says nothing about the batch. Two arenas keep that out.
        "MALLOC_ARENA_MAX": "2",
    }
    server = start("serve", "--port", "0", env=env)
    assert server.process is not None
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    run_batch(client, ROWS)  # imports, caches and the store's pages warm up
    before = peak_rss_mb(server.process.pid)
    run_batch(client, 2 * ROWS)
    after = peak_rss_mb(server.process.pid)
    assert after - before < ALLOWED_GROWTH_MB, (before, after)
