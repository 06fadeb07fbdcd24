"""sference in front of ``llama-server`` (C++, 16 slots, continuous batching) on the embedded
GGUF, against driving that same server directly. Four comparisons, one run, one machine:

1. overhead: the same chat requests sent (a) by an asyncio ``openai`` client at fixed
   concurrencies (a sweep), and (b) as one sference batch through the ``openai`` engine with its
   adaptive limit and no tuning. Prints (b) / best (a).
2. adaptive vs tuned: the limit the engine settled on (``/v1/health/ready`` replicas) against the
   sweep's best concurrency, and their throughputs.
3. streaming: first-token latency of a streamed chat completion, through sference vs direct.
4. interactive beside batch: a chat completion's latency through sference while a large batch
   keeps the upstream busy, over its latency when idle (interactive requests take the priority
   lane: batch work leaves part of the limit free while they arrive).

On a small machine the service and llama-server share the CPUs; in production sference runs on
its own node, so (b)/(a) here is a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _service import start_service
from llama_server import LlamaServer
from openai import AsyncOpenAI, OpenAI

from sference_server.engines.llamacpp.model import embedded_model_path

KEY = "sk_bench_upstream_0123456789abcdef"
MODEL = "bench/smollm2-upstream"
PORT = 18431
MAX_TOKENS = 64


def messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a short story about a robot named Unit {i}."}]


async def direct(base_url: str, n: int, concurrency: int) -> float:
    """Completion tokens per second, ``concurrency`` requests in flight."""
    client = AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=600)
    gate = asyncio.Semaphore(concurrency)
    tokens = 0

    async def one(i: int) -> None:
        nonlocal tokens
        async with gate:
            reply = await client.chat.completions.create(
                model="smollm2-135m",
                messages=messages(i),
                max_tokens=MAX_TOKENS,
                temperature=0,  # type: ignore[arg-type]
            )
            tokens += reply.usage.completion_tokens if reply.usage else 0

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await client.close()
    return tokens / elapsed


def through_sference(http: httpx.Client, n: int, offset: int) -> tuple[float, list[int]]:
    """Completion tokens per second of one batch, and the limits the engine had while it ran."""
    rows = [
        {"custom_id": f"r{i}", "body": {"model": MODEL, "messages": messages(offset + i), "max_tokens": MAX_TOKENS,
                                       "temperature": 0}}
        for i in range(n)
    ]  # fmt: skip
    started = time.perf_counter()
    batch = http.post("/v1/batches", json={"requests": rows}).raise_for_status().json()
    limits = []
    while True:
        state = http.get(f"/v1/batches/{batch['id']}").json()
        if state["status"] in ("completed", "failed", "cancelled", "expired"):
            break
        limits.append(http.get("/v1/health/ready").json()["replicas"][MODEL][0]["limit"])
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    return state["usage"]["output_tokens"] / elapsed, limits


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_token_times(client: OpenAI, model: str, n: int) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model=model,
            messages=messages(i),
            max_tokens=16,
            temperature=0,
            stream=True,  # type: ignore[arg-type]
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(time.perf_counter() - started)
                break
        stream.close()
    return times


def chat_latencies(client: OpenAI, n: int) -> list[float]:
    seconds = []
    question = [{"role": "user", "content": "What is the capital of France? One word."}]
    for _ in range(n):
        started = time.perf_counter()
        client.chat.completions.create(model=MODEL, messages=question, max_tokens=16, temperature=0)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - started)
    return seconds


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--sweep", default="4,8,16,32,64")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2000, help="rows of the batch beside interactive requests")
    parser.add_argument("--option", action="append", default=[], help="an engine option, NAME=JSON (repeatable)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    options = {name: json.loads(value) for name, value in (o.split("=", 1) for o in args.option)}
    report: dict[str, object] = {}
    with (
        tempfile.TemporaryDirectory(prefix="sference-bench-") as tmp,
        LlamaServer(embedded_model_path(), port=PORT, slots=16, threads=2, ctx=16 * 512) as upstream,
    ):
        base_url = f"{upstream.url}/v1"
        asyncio.run(direct(base_url, 32, 16))  # warm up
        sweep = {c: asyncio.run(direct(base_url, args.requests, c)) for c in map(int, args.sweep.split(","))}
        best = max(sweep, key=lambda c: sweep[c])
        model = {
            "id": MODEL,
            "engine": "openai",
            "options": {"base_urls": [base_url], "upstream_model": "smollm2-135m"},
        }
        server = start_service(Path(tmp), KEY, models=[model])
        try:
            http = httpx.Client(base_url=server.url or "", headers={"Authorization": f"Bearer {KEY}"}, timeout=600)
            assert server.process is not None
            cpu_before, wall_before = cpu_seconds(server.process.pid), time.perf_counter()
            ours, limits = through_sference(http, args.requests, offset=0)
            cpu_share = (cpu_seconds(server.process.pid) - cpu_before) / (time.perf_counter() - wall_before)
            settled = sorted(limits[len(limits) // 2 :])[len(limits[len(limits) // 2 :]) // 2] if limits else 0
            client = OpenAI(base_url=f"{server.url}/openai/v1", api_key=KEY, max_retries=0, timeout=600)
            direct_client = OpenAI(base_url=base_url, api_key="none", max_retries=0)
            first_token_times(client, MODEL, 3)  # warm up
            ttft_direct = first_token_times(direct_client, "smollm2-135m", args.samples)
            ttft_ours = first_token_times(client, MODEL, args.samples)
            idle = chat_latencies(client, args.samples)
            rows = [{"custom_id": f"b{i}", "body": {"model": MODEL, "messages": messages(i), "max_tokens": MAX_TOKENS}}
                    for i in range(args.batch)]  # fmt: skip
            batch = http.post("/v1/batches", json={"requests": rows}).raise_for_status().json()
            while http.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] < 32:
                time.sleep(0.2)
            busy = chat_latencies(client, args.samples)
            http.post(f"/v1/batches/{batch['id']}/cancel")
        finally:
            server.stop()
    print(f"{args.requests} chat requests, max_tokens {MAX_TOKENS}, greedy; llama-server 16 slots, 2 threads")
    print(f"  engine options beyond the defaults: {options or 'none'}")
    for concurrency, rate in sweep.items():
        print(f"  direct, asyncio openai client, {concurrency:3d} in flight   {rate:7.1f} tok/s")
    print(f"  sference batch, openai engine, adaptive limit  {ours:7.1f} tok/s")
    print(f"  overhead: sference / best direct ({best} in flight): {ours / sweep[best]:.3f}  (target >= 0.97)")
    cpus = os.cpu_count()
    print(f"  the sference process used {cpu_share:.2f} of a CPU meanwhile ({cpus} CPUs, shared with llama-server)")
    print(f"  adaptive limit settled at {settled} (sweep's best: {best}); limits seen: {sorted(set(limits))}")
    print(f"first token, streamed chat, {args.samples} one after another:")
    print(f"  direct     p50 {p(ttft_direct, 0.5) * 1000:6.1f} ms  p99 {p(ttft_direct, 0.99) * 1000:6.1f} ms")
    print(f"  sference   p50 {p(ttft_ours, 0.5) * 1000:6.1f} ms  p99 {p(ttft_ours, 0.99) * 1000:6.1f} ms")
    print("interactive chat completion through sference (max_tokens 16):")
    print(f"  idle                             p50 {statistics.median(idle):6.3f} s")
    print(f"  beside a {args.batch}-row batch        p50 {statistics.median(busy):6.3f} s")
    print(f"  ratio busy / idle: {statistics.median(busy) / statistics.median(idle):.2f}  (target <= 1.5)")
    report = {"sweep_tok_s": sweep, "sference_tok_s": ours, "sference_cpu_share": cpu_share, "limits": limits,
              "ttft_direct_s": ttft_direct, "ttft_sference_s": ttft_ours, "idle_s": idle, "busy_s": busy}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
