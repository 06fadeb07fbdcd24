"""The published ``sference-cli==0.0.4`` + ``sference-sdk==0.0.4`` against our server, unchanged:
the seed's batch commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.jsonl import EXAMPLES
from support.published import published_clients, tail_until

from .conftest import Start

pytestmark = pytest.mark.slow
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"


class Cli:
    def __init__(self, bin_dir: Path, env: dict[str, str], cwd: Path) -> None:
        self.bin_dir, self.env, self.cwd = bin_dir, env, cwd

    def __call__(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin_dir / "sference"), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, f"sference {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    return published_clients("0.0.4")


@pytest.fixture
def cli(start: Start, tmp_path: Path, bin_dir: Path) -> Cli:
    server = start("serve", "--port", "0", "--data-dir", str(tmp_path / "data"), home=tmp_path / "server-home")
    key = re.search(r"\(shown once\): (sk_\S+)", server.output())
    assert key
    home = tmp_path / "cli-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFERENCE_")}
    env.update(
        {
            "HOME": str(home),
            "SFERENCE_BASE_URL": server.url,
            "SFERENCE_API_KEY": key.group(1),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    return Cli(bin_dir, env, tmp_path)


def test_seed_batch_commands(cli: Cli, tmp_path: Path) -> None:
    me = cli.json("auth", "me")
    assert me["username"] == "admin" and me["role"] == "admin"

    submitted = cli.json("batch", "submit", "--input-file", str(EXAMPLES / "example_batch.jsonl"), "--window", "24h")
    assert submitted["status"] == "pending" and submitted["request_count"] == 3
    batch_id = submitted["id"]
    assert cli.json("batch", "status", "--batch-id", batch_id)["id"] == batch_id
    waited = cli.json("batch", "wait", "--batch-id", batch_id, "--timeout", "240", "--poll-interval", "0.5")
    assert waited["status"] == "completed" and waited["total_tokens"] > 0

    results = cli.json("batch", "results", "--batch-id", batch_id)
    assert [r["custom_id"] for r in results["results"]] == ["greeting", "capital", "colors"]

    out = tmp_path / "nested" / "out.jsonl"
    cli("batch", "download-results", "--batch-id", batch_id, "--out", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["custom_id"] for r in rows] == ["greeting", "capital", "colors"]
    assert all(r["result_json"]["choices"][0]["message"]["content"] for r in rows)

    listed = cli.json("batch", "list")
    assert [b["id"] for b in listed["items"]] == [batch_id]
    table = cli("batch", "list").stdout
    assert batch_id in table and "completed" in table


def test_batch_stream_prints_results_jsonl_on_stdout(cli: Cli, tmp_path: Path) -> None:
    cache = tmp_path / "stream_cache.json"
    cli.env["SFERENCE_STREAM_CACHE"] = str(cache)
    done = cli(
        "batch",
        "stream",
        "--input-file",
        str(EXAMPLES / "prompts.jsonl"),
        "--model",
        EMBEDDED,
        "--poll-interval",
        "0.5",
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["custom_id"] for r in rows] == ["request-1", "request-2", "request-3"]
    assert all(r["status"] == "completed" for r in rows)
    assert "status=" in done.stderr
    assert json.loads(cache.read_text()) == {}  # the entry is dropped once results are out


def test_cancel_and_errors(cli: Cli, tmp_path: Path) -> None:
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps({"content": f"Write a long essay number {i}."}) + "\n" for i in range(200)))
    batch = cli.json("batch", "submit", "--input-file", str(many), "--model", EMBEDDED)
    cancelled = cli.json("batch", "cancel", "--batch-id", batch["id"])
    assert cancelled["status"] == "cancelled"

    missing = cli("batch", "status", "--batch-id", "no-such-batch", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("404:")
    unknown_model = cli("batch", "submit", "--input-file", str(many), "--model", "gpt-x", check=False)
    assert unknown_model.returncode == 1 and "400:" in unknown_model.stderr and EMBEDDED in unknown_model.stderr
    cli.env["SFERENCE_API_KEY"] = "sk_wrong"
    denied = cli("auth", "me", check=False)
    assert denied.returncode == 1 and "Unauthorized (401)" in denied.stderr


def test_seed_stream_and_responses_commands(cli: Cli, tmp_path: Path) -> None:
    cli.env["SFERENCE_STREAM_CHECKPOINTS"] = str(tmp_path / "checkpoints.json")
    stream = cli.json("stream", "create", "--name", "my-stream", "--window", "24h")
    assert stream["status"] == "open" and stream["name"] == "my-stream"
    assert [s["id"] for s in cli.json("stream", "list")["items"]] == [stream["id"]]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(json.dumps({"content": f"Say hello number {i}."}) + "\n" for i in range(3)))
    second.write_text(
        json.dumps({"content": "Say thanks."})
        + "\n"
        + json.dumps({"input": [{"role": "user", "content": "Say bye."}], "metadata": {"custom_id": "bye"}})
        + "\n"
    )
    submitted = cli.json(
        "stream", "submit", "--stream-id", stream["id"], "--input-file", str(first), "--model", EMBEDDED
    )
    assert submitted["stream_id"] == stream["id"] and submitted["total_items"] == 3
    assert all(item["status"] == "in_progress" for item in submitted["items"])

    tail_args = [str(cli.bin_dir / "sference"), "responses", "tail", "--stream-id", stream["id"], "--poll-ms", "2000"]
    events = tail_until(tail_args, 3, env=cli.env, cwd=cli.cwd)
    # Stopped while waiting for more; what arrives meanwhile is printed by the next run, once.
    cli.json("stream", "submit", "--stream-id", stream["id"], "--input-file", str(second), "--model", EMBEDDED)
    events += tail_until(tail_args, 2, env=cli.env, cwd=cli.cwd)
    assert len({e["completion_id"] for e in events}) == 5
    assert "bye" in {e["custom_id"] for e in events[3:]}
    assert all(e["status"] == "completed" and e["result"]["choices"][0]["message"]["content"] for e in events)

    status = cli.json("stream", "status", "--stream-id", stream["id"])
    assert (status["total_items"], status["completed_items"], status["completion_ratio"]) == (5, 5, 1.0)
    assert cli.json("stream", "cancel", "--stream-id", stream["id"])["status"] == "cancelled"
    assert cli.json("stream", "archive", "--stream-id", stream["id"])["status"] == "archived"

    created = json.loads(
        cli(
            "responses",
            "create",
            "--model",
            EMBEDDED,
            "--content",
            "What is 2+2?",
            "--wait",
            "--poll-ms",
            "200",
            "--timeout-s",
            "120",
        ).stdout
    )
    assert created["status"] == "completed" and created["output"][0]["type"] == "output_text"
    queued = json.loads(cli("responses", "create", "--model", EMBEDDED, "--content", "Say hi.").stdout)
    result = json.loads(cli("responses", "result", "--id", queued["id"], "--poll-ms", "200").stdout)
    assert result["status"] == "completed" and result["output"][0]["text"]
