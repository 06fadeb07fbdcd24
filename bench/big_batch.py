"""One big batch through ``sference-server serve`` (SQLite, the ``echo`` engine with 256 slots):
accepted, run and exported, with the server's peak RSS and the worst latency of a small write
(a background ``POST /v1/responses`` every 100 ms) during each phase, side by side with the raw
store doing the same inserts and reads (``sqlite3``: ``executemany`` of the same rows into a
table of the same shape, one transaction; ``SELECT`` of the stored results) as the floor.

    uv run python bench/big_batch.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from _service import start_service

from sference_server.ids import uuid7

KEY = "sk_bench_big_batch_0123456789abcdef"
MODEL = "bench/echo"
UPLOAD_CHUNK = 1 << 16


def rows(n: int, pad: int) -> Iterator[bytes]:
    """The batch document, written as it is sent in pieces of 64 KiB as a client streaming a file
    would (the client holds no copy of it); each prompt padded with ``pad`` characters of words."""
    padding = ("lorem ipsum dolor sit amet " * (pad // 27 + 1))[:pad]
    chunk = bytearray(b'{"window": "24h", "requests": [')
    for i in range(n):
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"request number {i} {padding}"}]}
        chunk += (b"," if i else b"") + json.dumps({"custom_id": f"r{i}", "body": body}).encode()
        if len(chunk) >= UPLOAD_CHUNK:
            yield bytes(chunk)
            chunk.clear()
    yield bytes(chunk + b"]}")


def counted(chunks: Iterator[bytes], total: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        total[0] += len(chunk)
        yield chunk


def _custom_id(line: str) -> str:
    """A results line's custom_id (the line starts with it: a slice, not a parse of the line)."""
    assert line.startswith('{"custom_id":"'), line[:80]
    return line[14 : line.index('"', 14)]


class Watch:
    """Samples the server's RSS and the latency of a small write, until stopped."""

    def __init__(self, client: httpx.Client, pid: int) -> None:
        self.client, self.pid = client, pid
        self.peak_rss_mb = 0.0
        self.worst_write = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rss), threading.Thread(target=self._writes)]

    def __enter__(self) -> Watch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _rss(self) -> None:
        while not self._stop.wait(0.1):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)

    def _writes(self) -> None:
        while not self._stop.wait(0.1):
            started = time.perf_counter()
            body = {"model": MODEL, "input": "probe", "background": True}
            self.client.post("/v1/responses", json=body).raise_for_status()
            self.worst_write = max(self.worst_write, time.perf_counter() - started)


def raw_store(n: int, workdir: Path) -> tuple[float, float]:
    """Seconds for sqlite3 to insert ``n`` rows of the same size in one transaction, and to read
    the results back: the floor under what the service does."""
    db = sqlite3.connect(workdir / "raw.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE items (id TEXT PRIMARY KEY, batch_id TEXT, row_index INT, custom_id TEXT, body TEXT, result TEXT)"
    )
    batch = uuid7()
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "request number 0"}]})
    result = json.dumps({"kind": "chat", "text": "echo: request number 0", "usage": [3, 4]})
    started = time.perf_counter()
    with db:
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)",
            ((uuid7(), batch, i, f"r{i}", body, result) for i in range(n)),
        )
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    count = sum(1 for _ in db.execute("SELECT custom_id, result FROM items ORDER BY row_index"))
    read = time.perf_counter() - started
    assert count == n
    db.close()
    return inserted, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--pad", type=int, default=0, help="characters added to each prompt (~900: a 1 GB million)")
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        models = [{"id": MODEL, "engine": "echo", "options": {"slots": 256}}]
        server = start_service(workdir, KEY, models=models)
        assert server.process is not None
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600)
        probe = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600)
        try:
            phases: dict[str, tuple[float, Watch]] = {}
            sent = [0]
            with Watch(probe, server.process.pid) as watch:
                started = time.perf_counter()
                document = counted(rows(n, args.pad), sent)
                batch = client.post("/v1/batches", content=document, headers={"content-type": "application/json"})
                batch_id = batch.raise_for_status().json()["id"]
                phases["accept"] = (time.perf_counter() - started, watch)
            with Watch(probe, server.process.pid) as watch:
                started = time.perf_counter()
                while client.get(f"/v1/batches/{batch_id}").json()["status"] not in ("completed", "failed"):
                    time.sleep(0.2)
                phases["run"] = (time.perf_counter() - started, watch)
            with Watch(probe, server.process.pid) as watch:
                started = time.perf_counter()
                with client.stream("GET", f"/v1/batches/{batch_id}/results.jsonl") as response:
                    custom_ids = {_custom_id(line) for line in response.iter_lines() if line}
                phases["export"] = (time.perf_counter() - started, watch)
            assert custom_ids == {f"r{i}" for i in range(n)}, f"{len(custom_ids)} distinct custom_ids of {n}"
        finally:
            server.stop()
        raw_insert, raw_read = raw_store(n, workdir)
    print(f"one batch of {n:,} rows ({sent[0] / 1e6:,.0f} MB), serve on SQLite with the echo engine (256 slots)")
    print("  every custom_id came back exactly once")
    for name, (seconds, watch) in phases.items():
        print(
            f"  {name:7s} {seconds:8.1f} s  {n / seconds:10,.0f} rows/s  peak RSS {watch.peak_rss_mb:6.0f} MB  "
            f"worst small write {watch.worst_write * 1000:7.0f} ms"
        )
    accept, export = phases["accept"][0], phases["export"][0]
    print(f"  raw sqlite3: insert {n / raw_insert:10,.0f} rows/s, read {n / raw_read:10,.0f} rows/s")
    print(f"  ratios: accept/raw insert {raw_insert / accept:.2f}, export/raw read {raw_read / export:.3f}")


if __name__ == "__main__":
    main()
