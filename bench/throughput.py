"""Throughput of the embedded engine, measured side by side in one run.

1. Engine efficiency: 256 chat requests (max_tokens 64, greedy) through the whole service
   (``sference-server serve``: HTTP, SQLite store, worker) against the same requests fed straight
   to the same engine code (``LlamaCppEngine.generate``). Target: ratio >= 0.90.
2. Batching: one sequence at a time against continuous batching, same engine code.
3. The alternative a user would build by hand: ``llama-server`` (C++, 16 slots) driven by an
   asyncio ``openai`` client with 16 requests in flight, against our service, on 128 requests.
   llama-server runs three times: built portable on the GGUF as shipped (Q4_1) and on F16, and
   built with the same CPU kernels as ours (engines/llamacpp/kernels.py) on the same weights, so
   the engine's own contribution is visible apart from kernels and weight format.
4. The limit on this machine: llama.cpp's ``llama-batched-bench`` decoding the same weights with
   the same kernels, no server and no sampling, at 16/32/64 sequences.

Every phase runs the workload of the env doc: "Write a short story about a robot named Unit {i}."
with the chat template's default system prompt, greedy, max_tokens 64.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _service import start_service

from sference_server.config import EMBEDDED_MODEL_ID, default_models
from sference_server.engines.base import ChatRequest
from sference_server.engines.llamacpp.engine import LlamaCppEngine
from sference_server.engines.llamacpp.kernels import Variant
from sference_server.engines.llamacpp.model import embedded_model_path
from sference_server.engines.llamacpp.native import KERNELS
from sference_server.engines.llamacpp.options import LlamaCppOptions
from sference_server.engines.llamacpp.repack import repacked, resolve

MAX_TOKENS = 64
BATCHING_REQUESTS = 64
KEY = "sk_bench_0123456789abcdefghijklmnop"


def prompt(i: int) -> str:
    return f"Write a short story about a robot named Unit {i}."


def chat_requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest.from_body(
            {"messages": [{"role": "user", "content": prompt(i)}], "max_tokens": MAX_TOKENS, "temperature": 0}
        )
        for i in range(n)
    ]


POLL_SECONDS = 1.0  # how often the bench asks for the batch status (the CLI's `batch wait` default)


async def engine_throughput(
    n: int, options: LlamaCppOptions, cache: Path, *, sequential: bool = False
) -> tuple[float, int]:
    """Completion tokens per second of the engine itself, and the tokens generated."""
    engine = LlamaCppEngine(EMBEDDED_MODEL_ID, options, cache_dir=cache)
    await engine.start()
    try:
        requests = chat_requests(n)
        started = time.perf_counter()
        if sequential:
            results = [await engine.generate(r) for r in requests]
        else:
            results = await asyncio.gather(*(engine.generate(r) for r in requests))
        elapsed = time.perf_counter() - started
    finally:
        await engine.stop()
    tokens = sum(r.completion_tokens for r in results)
    return tokens / elapsed, tokens


def service_throughput(n: int, workdir: Path) -> tuple[float, int]:
    """Completion tokens per second of ``sference-server serve``, from the POST of the batch to
    the moment the store marked it completed (server timestamps)."""
    server = start_service(workdir, KEY, name=f"serve-{n}")
    try:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        rows = [
            {
                "custom_id": f"r{i}",
                "body": {
                    "model": EMBEDDED_MODEL_ID,
                    "max_tokens": MAX_TOKENS,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": prompt(i)}],
                },
            }
            for i in range(n)
        ]
        batch = client.post("/v1/batches", json={"window": "24h", "requests": rows}).raise_for_status().json()
        while batch["status"] not in ("completed", "failed", "cancelled"):
            time.sleep(POLL_SECONDS)
            batch = client.get(f"/v1/batches/{batch['id']}").raise_for_status().json()
        assert batch["status"] == "completed", batch
        elapsed = datetime.fromisoformat(batch["completed_at"]) - datetime.fromisoformat(batch["created_at"])
        tokens = int(batch["total_completion_tokens"])
        return tokens / elapsed.total_seconds(), tokens
    finally:
        server.stop()


async def llama_server_throughput(
    model: Path, n: int, in_flight: int, variant: Variant | None = None
) -> tuple[float, int]:
    from llama_server import LlamaServer
    from openai import AsyncOpenAI

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with LlamaServer(model, port=port, slots=in_flight, variant=variant) as server:
        client = AsyncOpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0, timeout=600)
        gate = asyncio.Semaphore(in_flight)

        async def one(i: int) -> int:
            async with gate:
                reply = await client.chat.completions.create(
                    model="smollm2-135m",
                    messages=[{"role": "user", "content": prompt(i)}],
                    max_tokens=MAX_TOKENS,
                    temperature=0,
                )
                return reply.usage.completion_tokens if reply.usage else 0

        started = time.perf_counter()
        tokens = sum(await asyncio.gather(*(one(i) for i in range(n))))
        elapsed = time.perf_counter() - started
        await client.close()
    return tokens / elapsed, tokens


PROMPT_TOKENS = 43  # the workload's prompt with the chat template's system prompt


def decode_limit(model: Path, variant: Variant | None) -> dict[int, float]:
    """Generated tokens/s of ``llama-batched-bench`` (C++, no server, no sampling, flash attention)
    for the workload's shape at a few batch sizes: prompts prefilled, then 64 tokens each."""
    from llama_server import binary

    command = [str(binary("llama-batched-bench", variant)), "-m", str(model), "-c", "8192", "-t", "2"]
    command += ["-fa", "on", "-npp", str(PROMPT_TOKENS), "-ntg", str(MAX_TOKENS), "-npl", "16,32,64"]
    out = subprocess.run([*command, "--output-format", "jsonl"], capture_output=True, text=True, check=True)
    rows = [json.loads(text) for text in (out.stdout + out.stderr).splitlines() if text.startswith("{")]
    return {row["pl"]: row["pl"] * row["tg"] / row["t"] for row in rows}


def line(label: str, rate: float, tokens: int) -> str:
    return f"  {label:<52} {rate:8.1f} tok/s  ({tokens} tokens)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--compare-requests", type=int, default=128)
    parser.add_argument("--skip-llama-server", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    defaults = LlamaCppOptions.parse(default_models()[0].options)  # what `serve` runs
    report: dict[str, Any] = {"engine_options": defaults.__dict__}

    with tempfile.TemporaryDirectory(prefix="sference-bench-") as tmp:
        workdir = Path(tmp)
        cache = workdir / "models"
        print(f"engine options (the service's defaults): {defaults}\n")
        print(f"1. engine efficiency: {args.requests} requests, max_tokens {MAX_TOKENS}, greedy")
        raw = asyncio.run(engine_throughput(args.requests, defaults, cache))
        service = service_throughput(args.requests, workdir)
        print(line("engine code fed directly (LlamaCppEngine.generate)", *raw))
        print(line("whole service (sference-server serve, HTTP + SQLite)", *service))
        print(f"  ratio service / engine: {service[0] / raw[0]:.3f}   (target >= 0.90)")
        report["efficiency"] = {"engine": raw, "service": service, "ratio": service[0] / raw[0]}

        print(f"\n2. batching: {BATCHING_REQUESTS} requests, same engine code")
        one_slot = LlamaCppOptions.parse({**default_models()[0].options, "slots": 1})
        single = asyncio.run(engine_throughput(BATCHING_REQUESTS, one_slot, cache, sequential=True))
        batched = asyncio.run(engine_throughput(BATCHING_REQUESTS, defaults, cache))
        print(line("one sequence at a time", *single))
        print(line(f"continuous batching ({defaults.slots} slots)", *batched))
        print(f"  ratio batched / single: {batched[0] / single[0]:.2f}")
        report["batching"] = {"single": single, "batched": batched, "ratio": batched[0] / single[0]}

        if not args.skip_llama_server:
            n = args.compare_requests
            variant = KERNELS.variant
            weights = resolve(defaults.weights, native_bf16=KERNELS.native_bf16)
            print(f"\n3. against llama-server: {n} requests, 16 in flight (our kernels: {KERNELS.describe()})")
            shipped = embedded_model_path()
            ours_file = repacked(shipped, weights, cache, threads=2) if weights != "original" else shipped
            f16 = repacked(shipped, "f16", cache, threads=2)
            theirs = asyncio.run(llama_server_throughput(shipped, n, 16))
            theirs_f16 = asyncio.run(llama_server_throughput(f16, n, 16))
            theirs_same = asyncio.run(llama_server_throughput(ours_file, n, 16, variant))
            ours = service_throughput(n, workdir)
            print(line("llama-server, portable build, GGUF as shipped (Q4_1)", *theirs))
            print(line("llama-server, portable build, F16 weights", *theirs_f16))
            print(line(f"llama-server, {KERNELS.name} build, our {weights} weights", *theirs_same))
            print(line("sference-server serve (a batch)", *ours))
            print(f"  ratio sference / llama-server as shipped: {ours[0] / theirs[0]:.2f}")
            print(f"  ratio sference / llama-server on F16: {ours[0] / theirs_f16[0]:.2f}   (goal >= 1.20)")
            print(f"  ratio sference / llama-server, same kernels and weights: {ours[0] / theirs_same[0]:.2f}")
            report["llama_server"] = {
                "llama_server_shipped": theirs,
                "llama_server_f16": theirs_f16,
                "llama_server_same_kernels_and_weights": theirs_same,
                "service": ours,
                "ratio_f16": ours[0] / theirs_f16[0],
                "ratio_same": ours[0] / theirs_same[0],
            }

            print(f"\n4. the limit: llama.cpp's own batched decoding of our {weights} weights ({KERNELS.name} build)")
            limit = decode_limit(ours_file, variant)
            for batch, rate in sorted(limit.items()):
                print(line(f"llama-batched-bench, {batch} sequences, prompt {PROMPT_TOKENS}", rate, batch * MAX_TOKENS))
            best = max(limit.values())
            print(f"  ratio sference / the best of these: {ours[0] / best:.2f}")
            report["limit"] = {"batched_bench": limit, "ratio": ours[0] / best}

    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
