"""Streams, responses and tailing with our CLI and SDK against ``sference-server serve`` running
the real embedded model."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

from sference_sdk import AsyncSferenceClient, SferenceClient

from .conftest import Start

pytestmark = pytest.mark.slow
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"
# Short answers keep the real model quick; requests may still ask for more.
MODELS = json.dumps(
    [
        {
            "id": EMBEDDED,
            "engine": "llamacpp",
            "options": {"slots": 8, "ctx_per_slot": 512, "max_tokens": 24, "temperature": 0.2},
        }
    ]
)


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sference_cli", *args]

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, timeout=300)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == code, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def served(start: Start, tmp_path: Path) -> tuple[str, str, Cli]:
    server = start(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--no-write-cli-credentials",
        env={"SFERENCE_MODELS": MODELS},
    )
    key = re.search(r"\(shown once\): (sk_\S+)", server.output())
    assert key and server.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFERENCE_")}
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "SFERENCE_BASE_URL": server.url,
            "SFERENCE_API_KEY": key.group(1),
            "SFERENCE_STREAM_CHECKPOINTS": str(tmp_path / "checkpoints.json"),
        }
    )
    return server.url, key.group(1), Cli(env)


def read_events(pipe: IO[str], n: int, timeout: float = 180) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(events) < n:
        assert time.monotonic() < deadline, f"only {len(events)} of {n} events"
        line = pipe.readline()
        if line:
            events.append(json.loads(line))
    return events


def test_stream_submit_tail_resume_and_counters(served: tuple[str, str, Cli], tmp_path: Path) -> None:
    _, _, cli = served
    stream = cli.json("stream", "create", "--name", "twenty", "--window", "1h")
    assert stream["status"] == "open" and stream["window"] == "1h"
    lines = [json.dumps({"content": f"Say the word number {i}.", "custom_id": f"c{i}"}) for i in range(10)]
    lines += [
        json.dumps(
            {
                "custom_id": f"e{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": EMBEDDED,
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": f"Name a fruit, {i}."}],
                },
            }
        )
        for i in range(10)
    ]
    work = tmp_path / "twenty.jsonl"
    work.write_text("\n".join(lines) + "\n")
    submitted = cli.json(
        "stream", "submit", "--stream-id", stream["id"], "--input-file", str(work), "--model", EMBEDDED
    )
    assert submitted["total_items"] == 20 and submitted["errors"] == []
    assert {r["status"] for r in submitted["items"]} == {"in_progress"}

    tail = ["responses", "tail", "--stream-id", stream["id"], "--consumer", "reader", "--poll-ms", "2000"]
    first = subprocess.Popen(cli.command(*tail), env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.stdout is not None
    half = read_events(first.stdout, 10)
    first.send_signal(signal.SIGINT)
    rest_of_first, err = first.communicate(timeout=60)
    assert first.returncode == 130 and "Interrupted." in err
    half += [json.loads(line) for line in rest_of_first.splitlines()]  # printed before the signal landed

    second = subprocess.Popen(
        cli.command(*tail), env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert second.stdout is not None
    rest = read_events(second.stdout, 20 - len(half))
    second.send_signal(signal.SIGINT)
    second.communicate(timeout=60)
    events = half + rest
    assert sorted(e["custom_id"] for e in events) == sorted([f"c{i}" for i in range(10)] + [f"e{i}" for i in range(10)])
    assert len({e["completion_id"] for e in events}) == 20
    assert [e["completion_id"] for e in events] == sorted(e["completion_id"] for e in events)
    assert all(e["status"] == "completed" and e["result"]["choices"][0]["message"]["content"] for e in events)

    detail = cli.json("stream", "status", "--stream-id", stream["id"])
    assert (detail["total_items"], detail["completed_items"], detail["pending_items"], detail["running_items"]) == (
        20,
        20,
        0,
        0,
    )
    assert detail["completion_ratio"] == 1.0 and detail["latest_completion_id"] == events[-1]["completion_id"]
    assert detail["total_tokens"] == sum(e["total_tokens"] for e in events)
    assert stream["id"] in cli("stream", "list").stdout

    assert cli.json("stream", "cancel", "--stream-id", stream["id"])["status"] == "cancelled"
    late = cli("stream", "submit", "--stream-id", stream["id"], "--input-file", str(work), "--model", EMBEDDED, code=1)
    assert "409" in late.stderr and "Submitted 0 of 20" in late.stdout
    assert cli.json("stream", "archive", "--stream-id", stream["id"])["status"] == "archived"


def test_stream_submit_reports_bad_lines_and_keeps_the_rest(served: tuple[str, str, Cli], tmp_path: Path) -> None:
    _, _, cli = served
    stream = cli.json("stream", "create", "--name", "mixed")
    work = tmp_path / "mixed.jsonl"
    work.write_text('{"content": "ok one"}\n{broken\n{"prompt": "x"}\n{"content": "ok two"}\n')
    done = cli("stream", "submit", "--stream-id", stream["id"], "--input-file", str(work), "--model", EMBEDDED, code=1)
    assert "Submitted 2 of 4" in done.stdout
    assert "line 2: invalid JSON" in done.stderr and "line 3: unrecognised line" in done.stderr
    assert cli.json("stream", "status", "--stream-id", stream["id"])["total_items"] == 2


def test_responses_create_wait_and_result(served: tuple[str, str, Cli]) -> None:
    _, _, cli = served
    done = json.loads(
        cli(
            "responses",
            "create",
            "--model",
            EMBEDDED,
            "--content",
            "What is the capital of France?",
            "--wait",
            "--poll-ms",
            "100",
        ).stdout
    )
    # Our CLI asks for the current API version: the answer is a message item.
    assert done["status"] in ("completed", "incomplete") and done["output"][-1]["content"][0]["text"].strip()
    assert done["usage"]["output_tokens"] > 0
    queued = json.loads(cli("responses", "create", "--model", EMBEDDED, "--content", "Say hi.", "--background").stdout)
    assert queued["status"] == "in_progress"
    result = json.loads(cli("responses", "result", "--id", queued["id"], "--poll-ms", "100").stdout)
    assert result["id"] == queued["id"] and result["status"] in ("completed", "incomplete")
    bad = cli("responses", "create", "--model", "nope", "--content", "x", code=1)
    assert bad.stderr.startswith("400: model: model 'nope' is not served")


def test_sdk_streams_and_events_sync_and_async(served: tuple[str, str, Cli]) -> None:
    url, key, _ = served
    with SferenceClient(base_url=url, api_key=key) as client:
        stream = client.create_stream("sdk", window="24h")
        ids = [
            client.create_response(
                model=EMBEDDED,
                input=f"Count to {i}.",
                max_output_tokens=6,
                metadata={"stream_id": stream.id, "custom_id": f"s{i}"},
            ).id
            for i in range(4)
        ]
        done = [client.wait_for_response(i, poll_interval=0.1, timeout=120) for i in ids]
        # Six tokens may cut an answer: "incomplete" in the current API version our SDK asks for.
        assert all(r.status in ("completed", "incomplete") and r.output_text for r in done)
        seen = [e.custom_id for e in client.iter_responses_events(stream_id=stream.id, consumer_name="sync")]
        assert seen == ["s0", "s1", "s2", "s3"]
        assert list(client.iter_responses_events(stream_id=stream.id, consumer_name="sync")) == []  # checkpointed
        listed = client.list_responses(stream_id=stream.id)
        assert [r.id for r in listed.data] == ids[::-1]
        assert client.get_stream(stream.id).completed_items == 4
        assert [s.id for s in client.list_streams().items] == [stream.id]

    async def run_async() -> list[str | None]:
        async with AsyncSferenceClient(base_url=url, api_key=key) as client:
            got = [e.custom_id async for e in client.iter_responses_events(stream_id=stream.id, consumer_name="async")]
            created = await client.create_response(
                model=EMBEDDED,
                input="One more.",
                max_output_tokens=4,
                metadata={"stream_id": stream.id, "custom_id": "late"},
            )
            async for event in client.iter_responses_events(
                stream_id=stream.id, consumer_name="async", follow=True, wait_ms=10_000
            ):
                got.append(event.custom_id)
                assert event.response_id == created.id
                break
            page = await client.list_responses_events(stream_id=stream.id, limit=2)
            assert [e.custom_id for e in page.data] == ["s3", "late"] and page.has_more
            cancelled = await client.cancel_stream(stream.id)
            assert cancelled.status == "cancelled"
            return got

    assert asyncio.run(run_async()) == ["s0", "s1", "s2", "s3", "late"]
