"""The control plane alone: ``sference-server serve`` with the ``echo`` engine (256 slots), so
that everything measured is HTTP, the store and the worker's bookkeeping, not a model.

1. End to end: four inline batches of ``--rows`` requests each submitted at once, run, and every
   result downloaded (``results.jsonl``); the time of each step and requests/s for the whole.
2. ``POST /v1/responses`` accepted per second by ``--clients`` concurrent clients (each its own
   keep-alive connection, one request after another), while the worker runs them.

The clients are a minimal asyncio HTTP/1.1 client, so that on a 2-vCPU machine the load
generator takes as little of the CPU the server needs as possible; the same requests through
``httpx`` are measured beside it for comparison.

    uv run python bench/control_plane.py
    uv run python bench/control_plane.py --database-url postgresql+psycopg://...
    uv run python bench/control_plane.py --split     # `api` and `worker` as separate processes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _service import start_service

from support.postgres import own_cluster

KEY = "sk_bench_control_plane_0123456789ab"
MODEL = "bench/echo"


def batch_document(batch: int, n: int) -> bytes:
    rows = [
        {"custom_id": f"b{batch}-r{i}", "body": {"model": MODEL, "messages": [{"role": "user", "content": f"n {i}"}]}}
        for i in range(n)
    ]
    return json.dumps({"window": "24h", "requests": rows}).encode()


def end_to_end(url: str, batches: int, n: int) -> dict[str, float]:
    documents = [batch_document(b, n) for b in range(batches)]
    headers = {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
    timings: dict[str, float] = {}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client, ThreadPoolExecutor(batches) as pool:
        started = time.perf_counter()
        ids = list(
            pool.map(lambda doc: client.post("/v1/batches", content=doc).raise_for_status().json()["id"], documents)
        )
        timings["accept"] = time.perf_counter() - started
        while any(client.get(f"/v1/batches/{i}").json()["status"] not in ("completed", "failed") for i in ids):
            time.sleep(0.05)
        timings["run"] = time.perf_counter() - started - timings["accept"]

        def download(batch_id: str) -> int:
            with client.stream("GET", f"/v1/batches/{batch_id}/results.jsonl") as response:
                return sum(1 for line in response.iter_lines() if line)

        exported = list(pool.map(download, ids))
        timings["total"] = time.perf_counter() - started
        timings["export"] = timings["total"] - timings["accept"] - timings["run"]
    assert exported == [n] * batches, exported
    return timings


REQUEST = json.dumps({"model": MODEL, "input": "hello", "background": True}).encode()


async def raw_client(host: str, port: int, count: int) -> None:
    """``count`` POSTs over one keep-alive connection, each read whole before the next."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST /v1/responses HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(REQUEST)}\r\n\r\n"
    ).encode()
    for _ in range(count):
        writer.write(head + REQUEST)
        status = await reader.readline()
        if not status.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 201 ", b"HTTP/1.1 202 ")):
            raise RuntimeError(status.decode())
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
    writer.close()


def accept_rate_raw(url: str, total: int, clients: int) -> float:
    parts = urlsplit(url)
    assert parts.hostname and parts.port

    async def run() -> None:
        await asyncio.gather(*(raw_client(parts.hostname, parts.port, total // clients) for _ in range(clients)))

    started = time.perf_counter()
    asyncio.run(run())
    return total // clients * clients / (time.perf_counter() - started)


def accept_rate_httpx(url: str, total: int, clients: int) -> float:
    def submit(count: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
            for _ in range(count):
                client.post(
                    "/v1/responses", content=REQUEST, headers={"content-type": "application/json"}
                ).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(submit, [total // clients] * clients))
    return total // clients * clients / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--rows", type=int, default=10_000, help="requests per batch")
    parser.add_argument("--responses", type=int, default=8_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--database-url", help="a PostgreSQL URL; default: SQLite in a fresh data folder")
    parser.add_argument("--postgres", action="store_true", help="on a PostgreSQL server of its own (initdb)")
    parser.add_argument("--skip", choices=["batches", "responses"], action="append", default=[])
    parser.add_argument(
        "--split", action="store_true", help="`api` and `worker` as two processes on one store instead of `serve`"
    )
    parser.add_argument(
        "--log",
        choices=["quiet", "text", "json"],
        default="quiet",
        help="quiet: warnings only (the default); text or json: INFO, an access line per request",
    )
    args = parser.parse_args()
    models = [{"id": MODEL, "engine": "echo", "options": {"slots": 256}}]
    with contextlib.ExitStack() as stack:
        if args.postgres:
            args.database_url = stack.enter_context(own_cluster()).url
        run(args, models)


def run(args: argparse.Namespace, models: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory(prefix="sference-bench-") as tmp:
        # The per-user request rate limit (6,000/min by default) is what is being measured past.
        env = {"SFERENCE_REQUESTS_PER_MINUTE": "0"}
        if args.log != "quiet":
            env |= {"SFERENCE_LOG_LEVEL": "INFO", "SFERENCE_LOG_FORMAT": args.log}
        if args.database_url:
            env["SFERENCE_DATABASE_URL"] = args.database_url
        workdir = Path(tmp)
        if args.split:
            data = workdir / "data"
            api, work = ["api", "--port", "0"], ["worker"]
            server = start_service(workdir, KEY, name="api", command=api, models=models, data_dir=data, env=env)
            worker = start_service(workdir, KEY, name="worker", command=work, models=models, data_dir=data, env=env)
        else:
            server, worker = start_service(workdir, KEY, models=models, env=env), None
        try:
            assert server.url is not None
            store = ("api + worker processes" if args.split else "serve") + " on "
            store += "PostgreSQL" if args.database_url else "SQLite"
            if "batches" not in args.skip:
                total = args.batches * args.rows
                t = end_to_end(server.url, args.batches, args.rows)
                print(f"1. {args.batches} batches of {args.rows:,} requests at once, {store}, echo engine")
                for step in ("accept", "run", "export"):
                    print(f"  {step:8s} {t[step]:7.2f} s  {total / t[step]:10,.0f} requests/s")
                print(f"  {'total':8s} {t['total']:7.2f} s  {total / t['total']:10,.0f} requests/s end to end")
            if "responses" not in args.skip:
                print(f"2. POST /v1/responses, {args.clients} concurrent clients, {args.responses:,} requests")
                raw = accept_rate_raw(server.url, args.responses, args.clients)
                print(f"  minimal asyncio client  {raw:10,.0f} accepted/s")
                via_httpx = accept_rate_httpx(server.url, args.responses // 4, args.clients)
                print(f"  httpx, one thread each  {via_httpx:10,.0f} accepted/s")
        finally:
            if worker is not None:
                worker.stop()
            server.stop()


if __name__ == "__main__":
    main()
