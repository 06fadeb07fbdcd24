"""Every command of both generations of the published clients — sference-cli 0.0.4 with a key of
the seed's API version, sference-cli 0.4.0 with a key of the current one — run as subprocesses
against one live server with the embedded models: exit 0, no traceback, output checked. Then the
same calls through each generation's async SDK client, and what each CLI shows when its key has
the other version (docs/versions.md)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import pytest

from sference_server.config import DECISIONS_MODEL_ID, EMBEDDED_MODEL_ID, EMBEDDING_MODEL_ID
from sference_server.domain.versions import CURRENT, SEED
from support.jsonl import EXAMPLES
from support.live import ServerProcess, server_env
from support.published import published_clients, tail_until

pytestmark = pytest.mark.slow
GENERATIONS = {"0.0.4": ("0.0.4", SEED.name), "0.4.0": ("0.3.2", CURRENT.name)}


@dataclass
class Served:
    url: str
    home: Path
    data: Path
    keys: dict[str, str]  # API version -> key


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("matrix")
    home, data = root / "home", root / "data"
    server = ServerProcess(["serve", "--port", "0", "--data-dir", str(data)], env=server_env(home), log=root / "s.log")
    server.start()
    try:
        assert server.url is not None
        keys = {}
        for version in (SEED.name, CURRENT.name):
            command = ["keys", "create", "--user", "admin", "--api-version", version, "--data-dir", str(data)]
            made = subprocess.run(
                [sys.executable, "-m", "sference_server", *command],
                env=server_env(home),
                capture_output=True,
                text=True,
                check=True,
            )
            keys[version] = made.stdout.strip()
        yield Served(server.url, home, data, keys)
    finally:
        server.stop()


class Cli:
    def __init__(self, bin_dir: Path, env: dict[str, str], cwd: Path) -> None:
        self.bin_dir, self.env, self.cwd = bin_dir, env, cwd

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin_dir / "sference"), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, f"sference {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str) -> Any:
        """A command that prints JSON with ``--json``."""
        return json.loads(self(*args, "--json").stdout)

    def out(self, *args: str) -> Any:
        """A command that always prints JSON (responses create / result)."""
        return json.loads(self(*args).stdout)


def cli_for(served: Served, cli_version: str, api_version: str, tmp_path: Path) -> Cli:
    bin_dir = published_clients(cli_version, GENERATIONS[cli_version][0])
    home = tmp_path / "cli-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFERENCE_")}
    env.update(
        {
            "HOME": str(home),
            "SFERENCE_BASE_URL": served.url,
            "SFERENCE_API_KEY": served.keys[api_version],
            "SFERENCE_STREAM_CACHE": str(tmp_path / "stream_cache.json"),
            "SFERENCE_STREAM_CHECKPOINTS": str(tmp_path / "checkpoints.json"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    return Cli(bin_dir, env, tmp_path)


@pytest.mark.parametrize("cli_version", list(GENERATIONS))
def test_every_command_of_each_published_cli(served: Served, cli_version: str, tmp_path: Path) -> None:
    newest = cli_version != "0.0.4"
    cli = cli_for(served, cli_version, GENERATIONS[cli_version][1], tmp_path)
    assert (
        cli.json("auth", "me") == {"username": "admin", "role": "admin"}
        or cli.json("auth", "me")["username"] == "admin"
    )

    # batch: submit / status / wait / results / download-results / list / stream / cancel
    batch = cli.json("batch", "submit", "--input-file", str(EXAMPLES / "example_batch.jsonl"))
    assert cli.json("batch", "status", "--batch-id", batch["id"])["id"] == batch["id"]
    waited = cli.json("batch", "wait", "--batch-id", batch["id"], "--timeout", "240", "--poll-interval", "0.5")
    assert waited["status"] == "completed"
    results = cli.json("batch", "results", "--batch-id", batch["id"])
    assert all(row["result_json"]["choices"][0]["message"]["content"] for row in results["results"])
    out = tmp_path / "out" / "results.jsonl"
    cli("batch", "download-results", "--batch-id", batch["id"], "--out", str(out))
    assert len(out.read_text().splitlines()) == 3
    assert batch["id"] in cli("batch", "list").stdout
    streamed = cli(
        "batch",
        "stream",
        "--input-file",
        str(EXAMPLES / "prompts.jsonl"),
        "--model",
        EMBEDDED_MODEL_ID,
        "--poll-interval",
        "0.5",
    )
    assert [json.loads(line)["status"] for line in streamed.stdout.splitlines()] == ["completed"] * 3
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps({"content": f"Write a long essay number {i}."}) + "\n" for i in range(40)))
    big = cli.json("batch", "submit", "--input-file", str(many), "--model", EMBEDDED_MODEL_ID)
    assert cli.json("batch", "cancel", "--batch-id", big["id"])["status"] == "cancelled"

    # stream: create / list / status / submit / tail / cancel / archive
    stream = cli.json("stream", "create", "--name", f"matrix-{cli_version}", "--window", "24h")
    assert stream["id"] in {s["id"] for s in cli.json("stream", "list")["items"]}
    lines = tmp_path / "lines.jsonl"
    lines.write_text("".join(json.dumps({"content": f"Say hello number {i}."}) + "\n" for i in range(2)))
    submitted = cli.json(
        "stream", "submit", "--stream-id", stream["id"], "--input-file", str(lines), "--model", EMBEDDED_MODEL_ID
    )
    assert submitted["total_items"] == 2 and all(i["status"] == "in_progress" for i in submitted["items"])
    poll = ["--poll-interval", "1"] if newest else ["--poll-ms", "1000"]
    tail_args = [str(cli.bin_dir / "sference"), "responses", "tail", "--stream-id", stream["id"], *poll]
    events = tail_until(tail_args, 2, env=cli.env, cwd=cli.cwd)
    assert all(e["status"] == "completed" and e["result"]["choices"][0]["message"]["content"] for e in events)
    assert cli.json("stream", "status", "--stream-id", stream["id"])["completed_items"] == 2
    assert cli.json("stream", "cancel", "--stream-id", stream["id"])["status"] == "cancelled"
    assert cli.json("stream", "archive", "--stream-id", stream["id"])["status"] == "archived"

    # responses: create (blocking and background) / result
    if newest:
        blocking = cli.out("responses", "create", "--model", EMBEDDED_MODEL_ID, "--content", "What is 2+2?")
        assert blocking["status"] in ("completed", "incomplete")
        assert blocking["output"][-1]["type"] == "message" and blocking["output"][-1]["content"][0]["text"]
        queued = cli.out("responses", "create", "--model", EMBEDDED_MODEL_ID, "--content", "Say hi.", "--background")
        result = cli.out("responses", "result", "--id", queued["id"], "--poll-interval", "0.2")
        assert result["status"] in ("completed", "incomplete") and result["output"][-1]["content"][0]["text"]
    else:
        blocking = cli.out(
            "responses",
            "create",
            "--model",
            EMBEDDED_MODEL_ID,
            "--content",
            "What is 2+2?",
            "--wait",
            "--poll-ms",
            "200",
            "--timeout-s",
            "120",
        )
        assert blocking["status"] == "completed" and blocking["output"][0]["type"] == "output_text"
        queued = cli.out("responses", "create", "--model", EMBEDDED_MODEL_ID, "--content", "Say hi.")
        result = cli.out("responses", "result", "--id", queued["id"], "--poll-ms", "200")
        assert result["status"] == "completed" and result["output"][0]["text"]
    if not newest:
        return

    # The newest CLI's own commands: --version, models, embeddings, decisions, launch claude.
    assert cli("--version").stdout.startswith("sference-cli 0.4.0")
    listed = cli.json("models", "list")
    modalities = {m["id"]: m["modality"] for m in listed["data"]}
    assert modalities == {
        EMBEDDED_MODEL_ID: "text_generation",
        EMBEDDING_MODEL_ID: "text_embedding",
        DECISIONS_MODEL_ID: "decisions",
    }
    table = cli("models").stdout
    # Ids are cut at 34 characters; the modality column drops "text_".
    assert sorted(line.split()[-6] for line in table.splitlines()[1:]) == ["decisions", "embedding", "generation"]
    embedded = cli.json("embeddings", "create", "--model", EMBEDDING_MODEL_ID, "--input", "a cat", "--input", "a dog")
    assert [len(d["embedding"]) for d in embedded["data"]] == [384, 384] and embedded["usage"]["prompt_tokens"] > 0
    packed = cli.json(
        "embeddings",
        "create",
        "--model",
        EMBEDDING_MODEL_ID,
        "--input",
        "a cat",
        "--encoding-format",
        "base64",
        "--dimensions",
        "64",
    )
    assert isinstance(packed["data"][0]["embedding"], str) and len(packed["data"][0]["embedding"]) == 344  # 256 bytes
    questions = json.dumps(
        {
            "topic": {"type": "choice", "criteria": {"food": "about food", "sport": "about sport"}},
            "tone": {"type": "score", "criteria": ["negative", "neutral", "positive"]},
            "recipe": {"type": "noul"},
        }
    )
    state = "Whisk two eggs with sugar, fold in flour and bake the cake for 30 minutes."
    decided = cli.json(
        "decisions", "create", "--model", DECISIONS_MODEL_ID, "--questions", questions, "--state", state, "--json"
    )
    assert set(decided["answers"]) == {"topic", "tone", "recipe"}
    assert abs(sum(decided["answers"]["topic"]["probabilities"].values()) - 1) < 1e-6
    assert 0 <= decided["answers"]["recipe"]["noul"] <= 1 and decided["usage"]["input_tokens"] > 0
    text = cli("decisions", "create", "--model", DECISIONS_MODEL_ID, "--questions", questions, "--state", state).stdout
    assert "topic" in text and "input_tokens:" in text

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "claude").write_text("#!/bin/sh\nexit 0\n")
    (fake / "claude").chmod(stat.S_IRWXU)
    cli.env["PATH"] = f"{fake}:{cli.env['PATH']}"
    launched = cli("launch", "claude", "--model", EMBEDDED_MODEL_ID, "--dry-run")
    assert f"ANTHROPIC_BASE_URL={served.url}" in launched.stdout and EMBEDDED_MODEL_ID in launched.stdout


ASYNC_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from sference_sdk import AsyncSferenceClient
    from sference_sdk.models import InferenceRequest

    async def main(url, key, model, newest, embedding_model, decisions_model):
        client = AsyncSferenceClient(base_url=url, api_key=key)
        seen = {"me": (await client.get_me())["username"]}
        rows = [InferenceRequest(custom_id=f"r{i}", body={"model": model, "messages": [
            {"role": "user", "content": f"Say {i}."}]}) for i in range(2)]
        batch = await client.submit_batch(requests=rows, window="24h")
        seen["batch"] = (await client.wait_for_completion(batch.id, poll_interval=0.3, timeout=240)).status
        seen["results"] = [r["status"] if isinstance(r, dict) else r.status
                           for r in (await client.get_results(batch.id)).results]
        seen["batches"] = batch.id in {b.id for b in (await client.list_batches()).items}
        stream = await client.create_stream(name="async", window="24h")
        await client.create_response(model=model, input=[{"role": "user", "content": "Hi"}],
                                     metadata={"stream_id": stream.id})
        seen["stream"] = (await client.get_stream(stream.id)).total_items
        events = await client.list_responses_events(stream_id=stream.id, wait_ms=20000)
        seen["events"] = [e.status for e in events.data]
        if newest:
            response = await client.create_response(model=model, input="What is 2+2?")
            seen["response"] = [response.status, response.output[-1].type]
            embedded = await client.create_embeddings(model=embedding_model, input=["a", "b"])
            seen["embeddings"] = [len(d.embedding) for d in embedded.data]
            decided = await client.create_decision(model=decisions_model, state="It rains.",
                                                   questions={"wet": {"type": "noul"}})
            seen["decision"] = decided.answers["wet"].type
            seen["models"] = sorted(m["modality"] for m in (await client.list_models())["data"])
        else:
            response = await client.create_response(model=model, input=[{"role": "user", "content": "Hi"}])
            seen["response"] = [response.status]
        await client.aclose()
        print(json.dumps(seen))

    asyncio.run(main(*sys.argv[1:4], sys.argv[4] == "1", *sys.argv[5:]))
    """
)


@pytest.mark.parametrize("cli_version", list(GENERATIONS))
def test_each_published_async_sdk_client(served: Served, cli_version: str) -> None:
    newest = cli_version != "0.0.4"
    bin_dir = published_clients(cli_version, GENERATIONS[cli_version][0])
    done = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            ASYNC_SCRIPT,
            served.url,
            served.keys[GENERATIONS[cli_version][1]],
            EMBEDDED_MODEL_ID,
            "1" if newest else "0",
            EMBEDDING_MODEL_ID,
            DECISIONS_MODEL_ID,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["me"] == "admin" and seen["batch"] == "completed" and seen["results"] == ["completed"] * 2
    assert seen["batches"] and seen["stream"] == 1 and seen["events"] == ["completed"]
    if newest:
        assert seen["response"][0] in ("completed", "incomplete") and seen["response"][1] == "message"
        assert seen["embeddings"] == [384, 384] and seen["decision"] == "noul"
        assert seen["models"] == ["decisions", "text_embedding", "text_generation"]
    else:
        assert seen["response"] == ["in_progress"]


def test_what_each_cli_shows_with_a_key_of_the_other_version(served: Served, tmp_path: Path) -> None:
    """docs/versions.md quotes these, so support can recognise a key of the wrong version."""
    newest = cli_for(served, "0.4.0", SEED.name, tmp_path / "new")
    created = newest.out("responses", "create", "--model", EMBEDDED_MODEL_ID, "--content", "Hi")
    assert created["status"] == "in_progress" and created["output"] == []  # it did not block
    result = newest("responses", "result", "--id", created["id"], "--poll-interval", "0.2", check=False)
    assert result.returncode == 1 and "ValidationError" in result.stderr and "output.0" in result.stderr
    seed = cli_for(served, "0.0.4", CURRENT.name, tmp_path / "seed")
    waited = seed("responses", "create", "--model", EMBEDDED_MODEL_ID, "--content", "Hi", check=False)
    assert waited.returncode == 1 and "ValidationError" in waited.stderr and "output.0" in waited.stderr


def test_the_anthropic_package_against_serve(served: Served) -> None:
    """``messages.create``, plain and streamed, with the embedded model (what ``sference launch
    claude`` points Claude Code at: the server root and an sference key)."""
    client = anthropic.Anthropic(base_url=served.url, api_key=served.keys[CURRENT.name], max_retries=0)
    message = client.messages.create(
        model=EMBEDDED_MODEL_ID,
        max_tokens=24,
        system="You answer in one short sentence.",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert message.role == "assistant" and message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens") and message.usage.output_tokens > 0
    with client.messages.stream(
        model=EMBEDDED_MODEL_ID, max_tokens=24, messages=[{"role": "user", "content": "Say hello."}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0
