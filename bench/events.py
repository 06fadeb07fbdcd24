"""The completion-events feed and the responses API, measured against ``sference-server serve``
with the real embedded model.

1. Completion-to-event latency seen by a consumer long-polling ``GET /v1/responses/events``
   (``starting_after`` + ``wait_ms``), against the naive alternative: polling each
   ``GET /v1/responses/{id}`` every second. Latency = the moment the client holds the result
   minus the moment the server recorded the completion (same machine clock).
2. The rate at which ``POST /v1/responses`` accepts requests: one client in sequence (what
   ``stream submit`` of 0.0.4 does) and 8 concurrent clients, while the engine works.
3. ``--across-processes``: instead, the latency of 1. with ``api`` and ``worker`` as separate
   processes, on SQLite (the API learns of a commit from ``PRAGMA data_version``) and on a
   PostgreSQL server of its own (``LISTEN``/``NOTIFY``), a response submitted every 150 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _service import start_service

from sference_server.config import EMBEDDED_MODEL_ID
from support.postgres import own_cluster

KEY = "sk_bench_events_0123456789abcdefgh"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def body(i: int) -> dict[str, Any]:
    return {
        "model": EMBEDDED_MODEL_ID,
        "input": f"Say a short sentence about the number {i}.",
        "max_output_tokens": 16,
        "temperature": 0,
    }


def completed_at(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def feed_latency(client: httpx.Client, n: int, every: float = 0.0) -> list[float]:
    """Submit n responses (one every ``every`` seconds; 0: one after another); a long-polling
    consumer records when each completion reaches it."""
    cursor = client.get("/v1/responses/events", params={"limit": 1}).json()["data"]
    after = cursor[-1]["completion_id"] if cursor else ""
    delays: list[float] = []

    def consume() -> None:
        nonlocal after
        while len(delays) < n:
            page = client.get(
                "/v1/responses/events", params={"starting_after": after, "limit": 100, "wait_ms": 20_000}
            ).json()
            now = time.time()
            for event in page["data"]:
                delays.append(now - completed_at(event["completed_at"]))
                after = event["completion_id"]

    consumer = threading.Thread(target=consume)
    consumer.start()
    started = time.monotonic()
    for i in range(n):
        time.sleep(max(0.0, started + i * every - time.monotonic()))
        client.post("/v1/responses", json=body(i)).raise_for_status()
    consumer.join()
    return delays


def warmed_up(url: str) -> httpx.Client:
    """A client of the service at ``url``, once a first response has run (the model is loaded)."""
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    warm = client.post("/v1/responses", json=body(0)).raise_for_status().json()
    while client.get(f"/v1/responses/{warm['id']}").json()["status"] == "in_progress":
        time.sleep(0.1)
    return client


def across_processes(workdir: Path, n: int, database_url: str | None, name: str) -> list[float]:
    """``api`` and ``worker`` as two processes on one store; the paced feed latency."""
    env = {"SFERENCE_DATABASE_URL": database_url} if database_url else {}
    data = workdir / f"data-{name}"
    api = start_service(workdir, KEY, name=f"{name}-api", command=["api", "--port", "0"], data_dir=data, env=env)
    worker = start_service(workdir, KEY, name=f"{name}-worker", command=["worker"], data_dir=data, env=env)
    try:
        assert api.url is not None
        return feed_latency(warmed_up(api.url), n, every=0.15)
    finally:
        worker.stop()
        api.stop()


def polling_latency(client: httpx.Client, n: int, interval: float) -> list[float]:
    """Submit n responses; poll each one's status every ``interval`` seconds until done."""
    ids = [client.post("/v1/responses", json=body(i)).raise_for_status().json()["id"] for i in range(n)]
    delays: dict[str, float] = {}
    while len(delays) < n:
        for response_id in ids:
            if response_id in delays:
                continue
            response = client.get(f"/v1/responses/{response_id}").json()
            if response["status"] != "in_progress":
                delays[response_id] = time.time() - float(response["completed_at"])
        time.sleep(interval)
    return list(delays.values())


def accept_rate(url: str, n: int, clients: int) -> float:
    def submit(count: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
            for i in range(count):
                client.post("/v1/responses", json=body(i)).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(submit, [n // clients] * clients))
    return (n // clients * clients) / (time.perf_counter() - started)


def summary(label: str, delays: list[float]) -> str:
    return (
        f"  {label:<44} p50 {statistics.median(delays) * 1000:7.1f} ms   "
        f"p99 {percentile(delays, 0.99) * 1000:7.1f} ms   ({len(delays)} completions)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=200)
    parser.add_argument("--accept", type=int, default=400)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--across-processes", action="store_true", help="only section 3")
    args = parser.parse_args()
    if args.across_processes:
        with tempfile.TemporaryDirectory(prefix="sference-bench-") as tmp, own_cluster() as postgres:
            print(f"3. completion -> consumer, api and worker processes, {args.responses} responses, one per 150 ms")
            for name, url in (("SQLite", None), ("PostgreSQL", postgres.url)):
                print(
                    summary(
                        f"{name}: long-polling the events feed", across_processes(Path(tmp), args.responses, url, name)
                    )
                )
        return
    with tempfile.TemporaryDirectory(prefix="sference-bench-") as tmp:
        server = start_service(Path(tmp), KEY)
        try:
            assert server.url is not None
            client = warmed_up(server.url)
            print(f"1. completion -> consumer latency, {args.responses} responses (max_output_tokens 16)")
            feed = feed_latency(client, args.responses)
            polled = polling_latency(client, args.responses, interval=1.0)
            print(summary("long-polling the events feed", feed))
            print(summary("polling each GET /v1/responses/{id}, 1 s sweeps", polled))
            print(f"  ratio of medians, polling / feed: {statistics.median(polled) / statistics.median(feed):.1f}x")
            print(f"\n2. POST /v1/responses accept rate, {args.accept} requests, engine busy meanwhile")
            sequential = accept_rate(server.url, args.accept, 1)
            concurrent = accept_rate(server.url, args.accept, 8)
            print(f"  one client, in sequence                      {sequential:8.1f} requests/s")
            print(f"  8 concurrent clients                         {concurrent:8.1f} requests/s")
        finally:
            server.stop()
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "feed_ms": {"p50": statistics.median(feed) * 1000, "p99": percentile(feed, 0.99) * 1000},
                    "polling_ms": {"p50": statistics.median(polled) * 1000, "p99": percentile(polled, 0.99) * 1000},
                    "accept_per_s": {"sequential": sequential, "concurrent_8": concurrent},
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
