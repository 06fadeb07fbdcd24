"""An interactive chat completion while a large batch runs, against ``sference-server serve``
with the real embedded model: its latency with the engine idle, then with a 2,000-request batch
keeping every slot busy. The interactive request is claimed at once, runs ahead of the batch in
the engine and takes a slot from the youngest batch sequence, so it should cost about what it
costs alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _service import start_service

from sference_server.config import EMBEDDED_MODEL_ID

KEY = "sk_bench_interactive_0123456789abc"
QUESTION = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


def chat_latencies(client: httpx.Client, n: int) -> list[float]:
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        reply = (
            client.post(
                "/openai/v1/chat/completions",
                json={
                    "model": EMBEDDED_MODEL_ID,
                    "messages": QUESTION,
                    "max_tokens": 32,
                    "temperature": 0,
                },
            )
            .raise_for_status()
            .json()
        )
        seconds.append(time.perf_counter() - started)
        assert reply["choices"][0]["message"]["content"]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sference-bench-") as tmp:
        server = start_service(Path(tmp), KEY)
        try:
            client = httpx.Client(base_url=server.url or "", headers={"Authorization": f"Bearer {KEY}"}, timeout=600)
            chat_latencies(client, 2)  # warm up
            idle = chat_latencies(client, args.samples)
            rows = [
                {
                    "custom_id": f"r{i}",
                    "body": {
                        "model": EMBEDDED_MODEL_ID,
                        "max_tokens": 64,
                        "temperature": 0,
                        "messages": [{"role": "user", "content": f"Write a short story about a robot named Unit {i}."}],
                    },
                }
                for i in range(args.batch)
            ]
            batch = client.post("/v1/batches", json={"window": "24h", "requests": rows}).raise_for_status().json()
            while client.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] < 64:
                time.sleep(0.5)  # every slot busy, a deep queue behind them
            before = client.get(f"/v1/batches/{batch['id']}").json()["request_counts"]
            started = time.perf_counter()
            busy = chat_latencies(client, args.samples)
            elapsed = time.perf_counter() - started
            after = client.get(f"/v1/batches/{batch['id']}").json()["request_counts"]
            client.post(f"/v1/batches/{batch['id']}/cancel")
        finally:
            server.stop()
    print(f"chat completion (max_tokens 32, greedy), {args.samples} one after another:")
    print(f"  engine idle                          p50 {statistics.median(idle):6.2f} s   max {max(idle):6.2f} s")
    print(f"  while a {args.batch}-request batch runs  p50 {statistics.median(busy):6.2f} s   max {max(busy):6.2f} s")
    print(f"  ratio of medians busy / idle: {statistics.median(busy) / statistics.median(idle):.2f}")
    print(
        f"  the batch meanwhile: {before['completed']} -> {after['completed']} of {args.batch} completed "
        f"({(after['completed'] - before['completed']) / elapsed:.1f} requests/s), {after['queued']} still queued"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"idle_s": idle, "busy_s": busy, "batch_before": before, "batch_after": after}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
